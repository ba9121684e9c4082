/*
 * js_constants.c: the Linux constants the API takes, read from the system's
 * libc headers at build time (not from io_uring headers, which we do not
 * use). A name the headers lack is simply absent from the object.
 * Also exports the layouts the TS side decodes (struct statx offsets).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/fs.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "js.h"


static void put(napi_env env, napi_value obj, const char *name, int64_t v) {
  napi_set_named_property(env, obj, name, js_int(env, v));
}

napi_status js_constants_init(napi_env env, napi_value exports) {
  napi_value c, layout;
  napi_status st = napi_create_object(env, &c);
  if (st != napi_ok) return st;

#ifdef O_RDONLY
  put(env, c, "O_RDONLY", O_RDONLY);
#endif
#ifdef O_WRONLY
  put(env, c, "O_WRONLY", O_WRONLY);
#endif
#ifdef O_RDWR
  put(env, c, "O_RDWR", O_RDWR);
#endif
#ifdef O_CREAT
  put(env, c, "O_CREAT", O_CREAT);
#endif
#ifdef O_EXCL
  put(env, c, "O_EXCL", O_EXCL);
#endif
#ifdef O_NOCTTY
  put(env, c, "O_NOCTTY", O_NOCTTY);
#endif
#ifdef O_TRUNC
  put(env, c, "O_TRUNC", O_TRUNC);
#endif
#ifdef O_APPEND
  put(env, c, "O_APPEND", O_APPEND);
#endif
#ifdef O_NONBLOCK
  put(env, c, "O_NONBLOCK", O_NONBLOCK);
#endif
#ifdef O_DSYNC
  put(env, c, "O_DSYNC", O_DSYNC);
#endif
#ifdef O_SYNC
  put(env, c, "O_SYNC", O_SYNC);
#endif
#ifdef O_DIRECTORY
  put(env, c, "O_DIRECTORY", O_DIRECTORY);
#endif
#ifdef O_NOFOLLOW
  put(env, c, "O_NOFOLLOW", O_NOFOLLOW);
#endif
#ifdef O_CLOEXEC
  put(env, c, "O_CLOEXEC", O_CLOEXEC);
#endif
#ifdef O_DIRECT
  put(env, c, "O_DIRECT", O_DIRECT);
#endif
#ifdef O_NOATIME
  put(env, c, "O_NOATIME", O_NOATIME);
#endif
#ifdef O_PATH
  put(env, c, "O_PATH", O_PATH);
#endif
#ifdef O_TMPFILE
  put(env, c, "O_TMPFILE", O_TMPFILE);
#endif
#ifdef O_LARGEFILE
  put(env, c, "O_LARGEFILE", O_LARGEFILE);
#endif
#ifdef AT_FDCWD
  put(env, c, "AT_FDCWD", AT_FDCWD);
#endif
#ifdef AT_SYMLINK_NOFOLLOW
  put(env, c, "AT_SYMLINK_NOFOLLOW", AT_SYMLINK_NOFOLLOW);
#endif
#ifdef AT_REMOVEDIR
  put(env, c, "AT_REMOVEDIR", AT_REMOVEDIR);
#endif
#ifdef AT_SYMLINK_FOLLOW
  put(env, c, "AT_SYMLINK_FOLLOW", AT_SYMLINK_FOLLOW);
#endif
#ifdef AT_NO_AUTOMOUNT
  put(env, c, "AT_NO_AUTOMOUNT", AT_NO_AUTOMOUNT);
#endif
#ifdef AT_EMPTY_PATH
  put(env, c, "AT_EMPTY_PATH", AT_EMPTY_PATH);
#endif
#ifdef AT_STATX_SYNC_AS_STAT
  put(env, c, "AT_STATX_SYNC_AS_STAT", AT_STATX_SYNC_AS_STAT);
#endif
#ifdef AT_STATX_FORCE_SYNC
  put(env, c, "AT_STATX_FORCE_SYNC", AT_STATX_FORCE_SYNC);
#endif
#ifdef AT_STATX_DONT_SYNC
  put(env, c, "AT_STATX_DONT_SYNC", AT_STATX_DONT_SYNC);
#endif
#ifdef AF_UNSPEC
  put(env, c, "AF_UNSPEC", AF_UNSPEC);
#endif
#ifdef AF_UNIX
  put(env, c, "AF_UNIX", AF_UNIX);
#endif
#ifdef AF_LOCAL
  put(env, c, "AF_LOCAL", AF_LOCAL);
#endif
#ifdef AF_INET
  put(env, c, "AF_INET", AF_INET);
#endif
#ifdef AF_INET6
  put(env, c, "AF_INET6", AF_INET6);
#endif
#ifdef AF_NETLINK
  put(env, c, "AF_NETLINK", AF_NETLINK);
#endif
#ifdef AF_PACKET
  put(env, c, "AF_PACKET", AF_PACKET);
#endif
#ifdef SOCK_STREAM
  put(env, c, "SOCK_STREAM", SOCK_STREAM);
#endif
#ifdef SOCK_DGRAM
  put(env, c, "SOCK_DGRAM", SOCK_DGRAM);
#endif
#ifdef SOCK_RAW
  put(env, c, "SOCK_RAW", SOCK_RAW);
#endif
#ifdef SOCK_SEQPACKET
  put(env, c, "SOCK_SEQPACKET", SOCK_SEQPACKET);
#endif
#ifdef SOCK_NONBLOCK
  put(env, c, "SOCK_NONBLOCK", SOCK_NONBLOCK);
#endif
#ifdef SOCK_CLOEXEC
  put(env, c, "SOCK_CLOEXEC", SOCK_CLOEXEC);
#endif
#ifdef SOL_SOCKET
  put(env, c, "SOL_SOCKET", SOL_SOCKET);
#endif
#ifdef SOL_TCP
  put(env, c, "SOL_TCP", SOL_TCP);
#endif
#ifdef SOL_UDP
  put(env, c, "SOL_UDP", SOL_UDP);
#endif
#ifdef SOL_IP
  put(env, c, "SOL_IP", SOL_IP);
#endif
#ifdef SOL_IPV6
  put(env, c, "SOL_IPV6", SOL_IPV6);
#endif
#ifdef SO_REUSEADDR
  put(env, c, "SO_REUSEADDR", SO_REUSEADDR);
#endif
#ifdef SO_REUSEPORT
  put(env, c, "SO_REUSEPORT", SO_REUSEPORT);
#endif
#ifdef SO_KEEPALIVE
  put(env, c, "SO_KEEPALIVE", SO_KEEPALIVE);
#endif
#ifdef SO_BROADCAST
  put(env, c, "SO_BROADCAST", SO_BROADCAST);
#endif
#ifdef SO_LINGER
  put(env, c, "SO_LINGER", SO_LINGER);
#endif
#ifdef SO_RCVBUF
  put(env, c, "SO_RCVBUF", SO_RCVBUF);
#endif
#ifdef SO_SNDBUF
  put(env, c, "SO_SNDBUF", SO_SNDBUF);
#endif
#ifdef SO_RCVLOWAT
  put(env, c, "SO_RCVLOWAT", SO_RCVLOWAT);
#endif
#ifdef SO_SNDLOWAT
  put(env, c, "SO_SNDLOWAT", SO_SNDLOWAT);
#endif
#ifdef SO_RCVTIMEO
  put(env, c, "SO_RCVTIMEO", SO_RCVTIMEO);
#endif
#ifdef SO_SNDTIMEO
  put(env, c, "SO_SNDTIMEO", SO_SNDTIMEO);
#endif
#ifdef SO_ERROR
  put(env, c, "SO_ERROR", SO_ERROR);
#endif
#ifdef SO_TYPE
  put(env, c, "SO_TYPE", SO_TYPE);
#endif
#ifdef SO_DOMAIN
  put(env, c, "SO_DOMAIN", SO_DOMAIN);
#endif
#ifdef SO_PROTOCOL
  put(env, c, "SO_PROTOCOL", SO_PROTOCOL);
#endif
#ifdef SO_ACCEPTCONN
  put(env, c, "SO_ACCEPTCONN", SO_ACCEPTCONN);
#endif
#ifdef SO_OOBINLINE
  put(env, c, "SO_OOBINLINE", SO_OOBINLINE);
#endif
#ifdef SO_PRIORITY
  put(env, c, "SO_PRIORITY", SO_PRIORITY);
#endif
#ifdef SO_BINDTODEVICE
  put(env, c, "SO_BINDTODEVICE", SO_BINDTODEVICE);
#endif
#ifdef SO_INCOMING_CPU
  put(env, c, "SO_INCOMING_CPU", SO_INCOMING_CPU);
#endif
#ifdef SO_ZEROCOPY
  put(env, c, "SO_ZEROCOPY", SO_ZEROCOPY);
#endif
#ifdef SO_BUSY_POLL
  put(env, c, "SO_BUSY_POLL", SO_BUSY_POLL);
#endif
#ifdef IPPROTO_IP
  put(env, c, "IPPROTO_IP", IPPROTO_IP);
#endif
#ifdef IPPROTO_IPV6
  put(env, c, "IPPROTO_IPV6", IPPROTO_IPV6);
#endif
#ifdef IPPROTO_TCP
  put(env, c, "IPPROTO_TCP", IPPROTO_TCP);
#endif
#ifdef IPPROTO_UDP
  put(env, c, "IPPROTO_UDP", IPPROTO_UDP);
#endif
#ifdef IPPROTO_ICMP
  put(env, c, "IPPROTO_ICMP", IPPROTO_ICMP);
#endif
#ifdef IPPROTO_RAW
  put(env, c, "IPPROTO_RAW", IPPROTO_RAW);
#endif
#ifdef TCP_NODELAY
  put(env, c, "TCP_NODELAY", TCP_NODELAY);
#endif
#ifdef TCP_MAXSEG
  put(env, c, "TCP_MAXSEG", TCP_MAXSEG);
#endif
#ifdef TCP_CORK
  put(env, c, "TCP_CORK", TCP_CORK);
#endif
#ifdef TCP_KEEPIDLE
  put(env, c, "TCP_KEEPIDLE", TCP_KEEPIDLE);
#endif
#ifdef TCP_KEEPINTVL
  put(env, c, "TCP_KEEPINTVL", TCP_KEEPINTVL);
#endif
#ifdef TCP_KEEPCNT
  put(env, c, "TCP_KEEPCNT", TCP_KEEPCNT);
#endif
#ifdef TCP_SYNCNT
  put(env, c, "TCP_SYNCNT", TCP_SYNCNT);
#endif
#ifdef TCP_LINGER2
  put(env, c, "TCP_LINGER2", TCP_LINGER2);
#endif
#ifdef TCP_DEFER_ACCEPT
  put(env, c, "TCP_DEFER_ACCEPT", TCP_DEFER_ACCEPT);
#endif
#ifdef TCP_WINDOW_CLAMP
  put(env, c, "TCP_WINDOW_CLAMP", TCP_WINDOW_CLAMP);
#endif
#ifdef TCP_INFO
  put(env, c, "TCP_INFO", TCP_INFO);
#endif
#ifdef TCP_QUICKACK
  put(env, c, "TCP_QUICKACK", TCP_QUICKACK);
#endif
#ifdef TCP_CONGESTION
  put(env, c, "TCP_CONGESTION", TCP_CONGESTION);
#endif
#ifdef TCP_FASTOPEN
  put(env, c, "TCP_FASTOPEN", TCP_FASTOPEN);
#endif
#ifdef TCP_USER_TIMEOUT
  put(env, c, "TCP_USER_TIMEOUT", TCP_USER_TIMEOUT);
#endif
#ifdef TCP_NOTSENT_LOWAT
  put(env, c, "TCP_NOTSENT_LOWAT", TCP_NOTSENT_LOWAT);
#endif
#ifdef MSG_OOB
  put(env, c, "MSG_OOB", MSG_OOB);
#endif
#ifdef MSG_PEEK
  put(env, c, "MSG_PEEK", MSG_PEEK);
#endif
#ifdef MSG_DONTROUTE
  put(env, c, "MSG_DONTROUTE", MSG_DONTROUTE);
#endif
#ifdef MSG_CTRUNC
  put(env, c, "MSG_CTRUNC", MSG_CTRUNC);
#endif
#ifdef MSG_TRUNC
  put(env, c, "MSG_TRUNC", MSG_TRUNC);
#endif
#ifdef MSG_DONTWAIT
  put(env, c, "MSG_DONTWAIT", MSG_DONTWAIT);
#endif
#ifdef MSG_EOR
  put(env, c, "MSG_EOR", MSG_EOR);
#endif
#ifdef MSG_WAITALL
  put(env, c, "MSG_WAITALL", MSG_WAITALL);
#endif
#ifdef MSG_NOSIGNAL
  put(env, c, "MSG_NOSIGNAL", MSG_NOSIGNAL);
#endif
#ifdef MSG_MORE
  put(env, c, "MSG_MORE", MSG_MORE);
#endif
#ifdef MSG_CMSG_CLOEXEC
  put(env, c, "MSG_CMSG_CLOEXEC", MSG_CMSG_CLOEXEC);
#endif
#ifdef MSG_ZEROCOPY
  put(env, c, "MSG_ZEROCOPY", MSG_ZEROCOPY);
#endif
#ifdef MSG_FASTOPEN
  put(env, c, "MSG_FASTOPEN", MSG_FASTOPEN);
#endif
#ifdef MSG_ERRQUEUE
  put(env, c, "MSG_ERRQUEUE", MSG_ERRQUEUE);
#endif
#ifdef SHUT_RD
  put(env, c, "SHUT_RD", SHUT_RD);
#endif
#ifdef SHUT_WR
  put(env, c, "SHUT_WR", SHUT_WR);
#endif
#ifdef SHUT_RDWR
  put(env, c, "SHUT_RDWR", SHUT_RDWR);
#endif
  /* ---- Sockets (issue 3) ---- */
#ifdef IPPROTO_ICMPV6
  put(env, c, "IPPROTO_ICMPV6", IPPROTO_ICMPV6);
#endif
#ifdef IPV6_V6ONLY
  put(env, c, "IPV6_V6ONLY", IPV6_V6ONLY);
#endif
#ifdef IPV6_UNICAST_HOPS
  put(env, c, "IPV6_UNICAST_HOPS", IPV6_UNICAST_HOPS);
#endif
#ifdef IPV6_MULTICAST_HOPS
  put(env, c, "IPV6_MULTICAST_HOPS", IPV6_MULTICAST_HOPS);
#endif
#ifdef IPV6_MULTICAST_LOOP
  put(env, c, "IPV6_MULTICAST_LOOP", IPV6_MULTICAST_LOOP);
#endif
#ifdef IP_TTL
  put(env, c, "IP_TTL", IP_TTL);
#endif
#ifdef IP_TOS
  put(env, c, "IP_TOS", IP_TOS);
#endif
#ifdef IP_MULTICAST_TTL
  put(env, c, "IP_MULTICAST_TTL", IP_MULTICAST_TTL);
#endif
#ifdef IP_MULTICAST_LOOP
  put(env, c, "IP_MULTICAST_LOOP", IP_MULTICAST_LOOP);
#endif
#ifdef IP_FREEBIND
  put(env, c, "IP_FREEBIND", IP_FREEBIND);
#endif
#ifdef IP_TRANSPARENT
  put(env, c, "IP_TRANSPARENT", IP_TRANSPARENT);
#endif
#ifdef SO_RCVBUFFORCE
  put(env, c, "SO_RCVBUFFORCE", SO_RCVBUFFORCE);
#endif
#ifdef SO_SNDBUFFORCE
  put(env, c, "SO_SNDBUFFORCE", SO_SNDBUFFORCE);
#endif
#ifdef SO_PEEK_OFF
  put(env, c, "SO_PEEK_OFF", SO_PEEK_OFF);
#endif
#ifdef SO_MARK
  put(env, c, "SO_MARK", SO_MARK);
#endif
#ifdef SO_PASSCRED
  put(env, c, "SO_PASSCRED", SO_PASSCRED);
#endif
#ifdef SO_DEBUG
  put(env, c, "SO_DEBUG", SO_DEBUG);
#endif
#ifdef SO_DONTROUTE
  put(env, c, "SO_DONTROUTE", SO_DONTROUTE);
#endif
#ifdef MSG_CONFIRM
  put(env, c, "MSG_CONFIRM", MSG_CONFIRM);
#endif
#ifdef MSG_WAITFORONE
  put(env, c, "MSG_WAITFORONE", MSG_WAITFORONE);
#endif
#ifdef MSG_BATCH
  put(env, c, "MSG_BATCH", MSG_BATCH);
#endif
#ifdef MSG_SOCK_DEVMEM
  put(env, c, "MSG_SOCK_DEVMEM", MSG_SOCK_DEVMEM);
#endif
#ifdef SOMAXCONN
  put(env, c, "SOMAXCONN", SOMAXCONN);
#endif
  /* ---- end (issue 3) ---- */
#ifdef POLLIN
  put(env, c, "POLLIN", POLLIN);
#endif
#ifdef POLLPRI
  put(env, c, "POLLPRI", POLLPRI);
#endif
#ifdef POLLOUT
  put(env, c, "POLLOUT", POLLOUT);
#endif
#ifdef POLLERR
  put(env, c, "POLLERR", POLLERR);
#endif
#ifdef POLLHUP
  put(env, c, "POLLHUP", POLLHUP);
#endif
#ifdef POLLNVAL
  put(env, c, "POLLNVAL", POLLNVAL);
#endif
#ifdef POLLRDNORM
  put(env, c, "POLLRDNORM", POLLRDNORM);
#endif
#ifdef POLLRDBAND
  put(env, c, "POLLRDBAND", POLLRDBAND);
#endif
#ifdef POLLWRNORM
  put(env, c, "POLLWRNORM", POLLWRNORM);
#endif
#ifdef POLLWRBAND
  put(env, c, "POLLWRBAND", POLLWRBAND);
#endif
#ifdef POLLMSG
  put(env, c, "POLLMSG", POLLMSG);
#endif
#ifdef POLLRDHUP
  put(env, c, "POLLRDHUP", POLLRDHUP);
#endif
#ifdef STATX_TYPE
  put(env, c, "STATX_TYPE", STATX_TYPE);
#endif
#ifdef STATX_MODE
  put(env, c, "STATX_MODE", STATX_MODE);
#endif
#ifdef STATX_NLINK
  put(env, c, "STATX_NLINK", STATX_NLINK);
#endif
#ifdef STATX_UID
  put(env, c, "STATX_UID", STATX_UID);
#endif
#ifdef STATX_GID
  put(env, c, "STATX_GID", STATX_GID);
#endif
#ifdef STATX_ATIME
  put(env, c, "STATX_ATIME", STATX_ATIME);
#endif
#ifdef STATX_MTIME
  put(env, c, "STATX_MTIME", STATX_MTIME);
#endif
#ifdef STATX_CTIME
  put(env, c, "STATX_CTIME", STATX_CTIME);
#endif
#ifdef STATX_INO
  put(env, c, "STATX_INO", STATX_INO);
#endif
#ifdef STATX_SIZE
  put(env, c, "STATX_SIZE", STATX_SIZE);
#endif
#ifdef STATX_BLOCKS
  put(env, c, "STATX_BLOCKS", STATX_BLOCKS);
#endif
#ifdef STATX_BASIC_STATS
  put(env, c, "STATX_BASIC_STATS", STATX_BASIC_STATS);
#endif
#ifdef STATX_BTIME
  put(env, c, "STATX_BTIME", STATX_BTIME);
#endif
#ifdef STATX_ALL
  put(env, c, "STATX_ALL", STATX_ALL);
#endif
#ifdef STATX_MNT_ID
  put(env, c, "STATX_MNT_ID", STATX_MNT_ID);
#endif
#ifdef STATX_DIOALIGN
  put(env, c, "STATX_DIOALIGN", STATX_DIOALIGN);
#endif




#ifdef WEXITED
  put(env, c, "WEXITED", WEXITED);
#endif
#ifdef WSTOPPED
  put(env, c, "WSTOPPED", WSTOPPED);
#endif
#ifdef WCONTINUED
  put(env, c, "WCONTINUED", WCONTINUED);
#endif
#ifdef WNOHANG
  put(env, c, "WNOHANG", WNOHANG);
#endif
#ifdef WNOWAIT
  put(env, c, "WNOWAIT", WNOWAIT);
#endif
#ifdef WUNTRACED
  put(env, c, "WUNTRACED", WUNTRACED);
#endif
#ifdef SIGHUP
  put(env, c, "SIGHUP", SIGHUP);
#endif
#ifdef SIGINT
  put(env, c, "SIGINT", SIGINT);
#endif
#ifdef SIGQUIT
  put(env, c, "SIGQUIT", SIGQUIT);
#endif
#ifdef SIGILL
  put(env, c, "SIGILL", SIGILL);
#endif
#ifdef SIGTRAP
  put(env, c, "SIGTRAP", SIGTRAP);
#endif
#ifdef SIGABRT
  put(env, c, "SIGABRT", SIGABRT);
#endif
#ifdef SIGBUS
  put(env, c, "SIGBUS", SIGBUS);
#endif
#ifdef SIGFPE
  put(env, c, "SIGFPE", SIGFPE);
#endif
#ifdef SIGKILL
  put(env, c, "SIGKILL", SIGKILL);
#endif
#ifdef SIGUSR1
  put(env, c, "SIGUSR1", SIGUSR1);
#endif
#ifdef SIGSEGV
  put(env, c, "SIGSEGV", SIGSEGV);
#endif
#ifdef SIGUSR2
  put(env, c, "SIGUSR2", SIGUSR2);
#endif
#ifdef SIGPIPE
  put(env, c, "SIGPIPE", SIGPIPE);
#endif
#ifdef SIGALRM
  put(env, c, "SIGALRM", SIGALRM);
#endif
#ifdef SIGTERM
  put(env, c, "SIGTERM", SIGTERM);
#endif
#ifdef SIGCHLD
  put(env, c, "SIGCHLD", SIGCHLD);
#endif
#ifdef SIGCONT
  put(env, c, "SIGCONT", SIGCONT);
#endif
#ifdef SIGSTOP
  put(env, c, "SIGSTOP", SIGSTOP);
#endif
#ifdef SIGTSTP
  put(env, c, "SIGTSTP", SIGTSTP);
#endif
#ifdef SIGTTIN
  put(env, c, "SIGTTIN", SIGTTIN);
#endif
#ifdef SIGTTOU
  put(env, c, "SIGTTOU", SIGTTOU);
#endif
#ifdef SIGURG
  put(env, c, "SIGURG", SIGURG);
#endif
#ifdef SIGXCPU
  put(env, c, "SIGXCPU", SIGXCPU);
#endif
#ifdef SIGXFSZ
  put(env, c, "SIGXFSZ", SIGXFSZ);
#endif
#ifdef SIGVTALRM
  put(env, c, "SIGVTALRM", SIGVTALRM);
#endif
#ifdef SIGPROF
  put(env, c, "SIGPROF", SIGPROF);
#endif
#ifdef SIGWINCH
  put(env, c, "SIGWINCH", SIGWINCH);
#endif
#ifdef SIGIO
  put(env, c, "SIGIO", SIGIO);
#endif
#ifdef SIGSYS
  put(env, c, "SIGSYS", SIGSYS);
#endif
#ifdef SPLICE_F_MOVE
  put(env, c, "SPLICE_F_MOVE", SPLICE_F_MOVE);
#endif
#ifdef SPLICE_F_NONBLOCK
  put(env, c, "SPLICE_F_NONBLOCK", SPLICE_F_NONBLOCK);
#endif
#ifdef SPLICE_F_MORE
  put(env, c, "SPLICE_F_MORE", SPLICE_F_MORE);
#endif
#ifdef SPLICE_F_GIFT
  put(env, c, "SPLICE_F_GIFT", SPLICE_F_GIFT);
#endif
#ifdef POSIX_FADV_NORMAL
  put(env, c, "POSIX_FADV_NORMAL", POSIX_FADV_NORMAL);
#endif
#ifdef POSIX_FADV_RANDOM
  put(env, c, "POSIX_FADV_RANDOM", POSIX_FADV_RANDOM);
#endif
#ifdef POSIX_FADV_SEQUENTIAL
  put(env, c, "POSIX_FADV_SEQUENTIAL", POSIX_FADV_SEQUENTIAL);
#endif
#ifdef POSIX_FADV_WILLNEED
  put(env, c, "POSIX_FADV_WILLNEED", POSIX_FADV_WILLNEED);
#endif
#ifdef POSIX_FADV_DONTNEED
  put(env, c, "POSIX_FADV_DONTNEED", POSIX_FADV_DONTNEED);
#endif
#ifdef POSIX_FADV_NOREUSE
  put(env, c, "POSIX_FADV_NOREUSE", POSIX_FADV_NOREUSE);
#endif
#ifdef MADV_NORMAL
  put(env, c, "MADV_NORMAL", MADV_NORMAL);
#endif
#ifdef MADV_RANDOM
  put(env, c, "MADV_RANDOM", MADV_RANDOM);
#endif
#ifdef MADV_SEQUENTIAL
  put(env, c, "MADV_SEQUENTIAL", MADV_SEQUENTIAL);
#endif
#ifdef MADV_WILLNEED
  put(env, c, "MADV_WILLNEED", MADV_WILLNEED);
#endif
#ifdef MADV_DONTNEED
  put(env, c, "MADV_DONTNEED", MADV_DONTNEED);
#endif
#ifdef MADV_FREE
  put(env, c, "MADV_FREE", MADV_FREE);
#endif
#ifdef MADV_REMOVE
  put(env, c, "MADV_REMOVE", MADV_REMOVE);
#endif
#ifdef MADV_DONTFORK
  put(env, c, "MADV_DONTFORK", MADV_DONTFORK);
#endif
#ifdef MADV_DOFORK
  put(env, c, "MADV_DOFORK", MADV_DOFORK);
#endif
#ifdef MADV_MERGEABLE
  put(env, c, "MADV_MERGEABLE", MADV_MERGEABLE);
#endif
#ifdef MADV_UNMERGEABLE
  put(env, c, "MADV_UNMERGEABLE", MADV_UNMERGEABLE);
#endif
#ifdef MADV_HUGEPAGE
  put(env, c, "MADV_HUGEPAGE", MADV_HUGEPAGE);
#endif
#ifdef MADV_NOHUGEPAGE
  put(env, c, "MADV_NOHUGEPAGE", MADV_NOHUGEPAGE);
#endif
#ifdef MADV_DONTDUMP
  put(env, c, "MADV_DONTDUMP", MADV_DONTDUMP);
#endif
#ifdef MADV_DODUMP
  put(env, c, "MADV_DODUMP", MADV_DODUMP);
#endif
#ifdef MADV_COLD
  put(env, c, "MADV_COLD", MADV_COLD);
#endif
#ifdef MADV_PAGEOUT
  put(env, c, "MADV_PAGEOUT", MADV_PAGEOUT);
#endif
#ifdef MADV_POPULATE_READ
  put(env, c, "MADV_POPULATE_READ", MADV_POPULATE_READ);
#endif
#ifdef MADV_POPULATE_WRITE
  put(env, c, "MADV_POPULATE_WRITE", MADV_POPULATE_WRITE);
#endif
#ifdef XATTR_CREATE
  put(env, c, "XATTR_CREATE", XATTR_CREATE);
#endif
#ifdef XATTR_REPLACE
  put(env, c, "XATTR_REPLACE", XATTR_REPLACE);
#endif
#ifdef RENAME_NOREPLACE
  put(env, c, "RENAME_NOREPLACE", RENAME_NOREPLACE);
#endif
#ifdef RENAME_EXCHANGE
  put(env, c, "RENAME_EXCHANGE", RENAME_EXCHANGE);
#endif
#ifdef RENAME_WHITEOUT
  put(env, c, "RENAME_WHITEOUT", RENAME_WHITEOUT);
#endif
#ifdef STDIN_FILENO
  put(env, c, "STDIN_FILENO", STDIN_FILENO);
#endif
#ifdef STDOUT_FILENO
  put(env, c, "STDOUT_FILENO", STDOUT_FILENO);
#endif
#ifdef STDERR_FILENO
  put(env, c, "STDERR_FILENO", STDERR_FILENO);
#endif
#ifdef S_IFMT
  put(env, c, "S_IFMT", S_IFMT);
#endif
#ifdef S_IFSOCK
  put(env, c, "S_IFSOCK", S_IFSOCK);
#endif
#ifdef S_IFLNK
  put(env, c, "S_IFLNK", S_IFLNK);
#endif
#ifdef S_IFREG
  put(env, c, "S_IFREG", S_IFREG);
#endif
#ifdef S_IFBLK
  put(env, c, "S_IFBLK", S_IFBLK);
#endif
#ifdef S_IFDIR
  put(env, c, "S_IFDIR", S_IFDIR);
#endif
#ifdef S_IFCHR
  put(env, c, "S_IFCHR", S_IFCHR);
#endif
#ifdef S_IFIFO
  put(env, c, "S_IFIFO", S_IFIFO);
#endif
  /* waitid idtypes: enumerators of idtype_t in glibc, not macros. */
  put(env, c, "P_ALL", P_ALL);
  put(env, c, "P_PID", P_PID);
  put(env, c, "P_PGID", P_PGID);
  put(env, c, "P_PIDFD", 3); /* Linux 5.4; not in every libc's idtype_t */
  /* ---- Files and descriptors (issue 5): waitid si_code values ---- */
#ifdef CLD_EXITED
  put(env, c, "CLD_EXITED", CLD_EXITED);
  put(env, c, "CLD_KILLED", CLD_KILLED);
  put(env, c, "CLD_DUMPED", CLD_DUMPED);
  put(env, c, "CLD_TRAPPED", CLD_TRAPPED);
  put(env, c, "CLD_STOPPED", CLD_STOPPED);
  put(env, c, "CLD_CONTINUED", CLD_CONTINUED);
#endif
  /* ---- end (issue 5) ---- */
  st = napi_set_named_property(env, exports, "constants", c);
  if (st != napi_ok) return st;

  st = napi_create_object(env, &layout);
  if (st != napi_ok) return st;
  put(env, layout, "statxSize", sizeof(struct statx));
#define STX(f) put(env, layout, "statx_" #f, offsetof(struct statx, stx_##f))
  STX(mask); STX(blksize); STX(nlink); STX(uid); STX(gid); STX(mode); STX(ino); STX(size); STX(blocks);
  STX(atime); STX(btime); STX(ctime); STX(mtime); STX(rdev_major); STX(rdev_minor); STX(dev_major); STX(dev_minor);
#undef STX
  put(env, layout, "sockaddrIn", sizeof(struct sockaddr_in));
  put(env, layout, "sockaddrIn6", sizeof(struct sockaddr_in6));
  put(env, layout, "sockaddrUn", sizeof(struct sockaddr_un));
  put(env, layout, "sockaddrStorage", sizeof(struct sockaddr_storage));
  /* ---- Sockets (issue 3): the fields src/net-ops.ts encodes and decodes
   * (sa_family_t is host order, ports and addresses network order), and the
   * struct msghdr / struct iovec IORING_OP_SENDMSG and RECVMSG read. ---- */
  put(env, layout, "sockaddr_family", offsetof(struct sockaddr, sa_family));
  put(env, layout, "sin_port", offsetof(struct sockaddr_in, sin_port));
  put(env, layout, "sin_addr", offsetof(struct sockaddr_in, sin_addr));
  put(env, layout, "sin6_port", offsetof(struct sockaddr_in6, sin6_port));
  put(env, layout, "sin6_flowinfo", offsetof(struct sockaddr_in6, sin6_flowinfo));
  put(env, layout, "sin6_addr", offsetof(struct sockaddr_in6, sin6_addr));
  put(env, layout, "sin6_scope_id", offsetof(struct sockaddr_in6, sin6_scope_id));
  put(env, layout, "sun_path", offsetof(struct sockaddr_un, sun_path));
  put(env, layout, "msghdrSize", sizeof(struct msghdr));
  put(env, layout, "msg_name", offsetof(struct msghdr, msg_name));
  put(env, layout, "msg_namelen", offsetof(struct msghdr, msg_namelen));
  put(env, layout, "msg_iov", offsetof(struct msghdr, msg_iov));
  put(env, layout, "msg_iovlen", offsetof(struct msghdr, msg_iovlen));
  put(env, layout, "msg_control", offsetof(struct msghdr, msg_control));
  put(env, layout, "msg_controllen", offsetof(struct msghdr, msg_controllen));
  put(env, layout, "msg_flags", offsetof(struct msghdr, msg_flags));
  put(env, layout, "iovecSize", sizeof(struct iovec));
  /* ---- end (issue 3) ---- */
  /* ---- SCM_RIGHTS ancillary data for sendFd/recvFd (issue 15) ---- */
  {
    struct {
      struct cmsghdr h;
      int fd;
    } one;
    put(env, layout, "cmsgSpace1Fd", CMSG_SPACE(sizeof(int)));
    put(env, layout, "cmsgLen1Fd", CMSG_LEN(sizeof(int)));
    put(env, layout, "cmsg_len", offsetof(struct cmsghdr, cmsg_len));
    put(env, layout, "cmsg_level", offsetof(struct cmsghdr, cmsg_level));
    put(env, layout, "cmsg_type", offsetof(struct cmsghdr, cmsg_type));
    put(env, layout, "cmsgData", (int64_t)((unsigned char *)CMSG_DATA(&one.h) - (unsigned char *)&one.h));
    put(env, c, "SCM_RIGHTS", SCM_RIGHTS);
  }
  put(env, layout, "sqe", sizeof(struct um_sqe));
  put(env, layout, "cqe", sizeof(struct um_cqe));
  /* ---- Files and descriptors (issue 5): the siginfo_t IORING_OP_WAITID
   * writes (si_code, si_pid, si_status: the SIGCHLD members of the union),
   * and the page size madvise() aligns to. ---- */
  put(env, layout, "siginfoSize", sizeof(siginfo_t));
  put(env, layout, "siginfo_signo", offsetof(siginfo_t, si_signo));
  put(env, layout, "siginfo_code", offsetof(siginfo_t, si_code));
  put(env, layout, "siginfo_pid", offsetof(siginfo_t, si_pid));
  put(env, layout, "siginfo_uid", offsetof(siginfo_t, si_uid));
  put(env, layout, "siginfo_status", offsetof(siginfo_t, si_status));
  put(env, layout, "pageSize", sysconf(_SC_PAGESIZE));
  /* ---- end (issue 5) ---- */
  return napi_set_named_property(env, exports, "layout", layout);
}
