/**
 * uringmachine: the io_uring runtime for Node.js. Public surface; anything
 * not exported here is internal.
 */
export { UringMachine, UM } from './machine.js';
export type { UringMachineOptions, Statx, Metrics, ProbeFeatures, ProbeResult, MaxSwitchesOption } from './machine.js';
export { Fiber } from './fiber.js';
export { AsyncOp } from './async-op.js';
export {
  UMError,
  TimeoutError,
  Terminate,
  MachineClosedError,
  UnsupportedError,
  NoFiberError,
  LineTooLongError,
  QueueClosedError,
} from './errors.js';
export { constants } from './constants.js';
export type { ConstantName } from './constants.js';
// ---- Synchronisation, select, actors, debounce (issue 4) ----
export { Mutex, Queue } from './sync.js';
export { SharedMutex, SharedQueue } from './shared.js';
export type { SharedQueueOptions } from './shared.js';
export { Actor } from './actor.js';
export type { ActorTarget } from './actor.js';
export type { SelectCase, SelectCaseValue, SelectResult, SelectResultOf } from './select.js';
export type { Debounced } from './debounce.js';
// ---- end (issue 4) ----
// ---- Files and descriptors (issue 5) ----
export type { WaitidResult } from './fs-ops.js';
export type { ReadFilesOptions } from './read-files.js';
// ---- end (issue 5) ----
// ---- Buffer pool, multishot fd ops, streams (issue 3) ----
export { Stream } from './stream.js';
export { RESPError, RESPProtocolError, RESP_PUSH, respEncode, respEncodeCmd } from './resp.js';
export type { StreamOptions } from './stream.js';
export type { BufferPoolOptions } from './buffer-pool.js';
// ---- Sockets, one-shot (issue 3) ----
export type { RecvfromResult } from './net-ops.js';
export type { ZcStats } from './zc.js';
export type { MsgStats, RingAddress, RingMessage } from './msg-ring.js';
export type { Datagram, OutDatagram, SendResult } from './udp.js';
export type { WatchEvent } from './watch.js';
export { IN } from './watch.js';
export { DirectFd } from './direct.js';
export type { ChainOptions, ChainResult, LinkTimeoutOptions } from './link.js';
export type { ConnectOptions, ListenOptions, LookupAddress, LookupFunction } from './dns-connect.js';
export type { AcceptedConnection, AcceptOptions, SocketAddress } from './net-names.js';
export type { UncancellableOptions } from './shield.js';
// ---- end (issue 3) ----
// ---- Node ecosystem adapters (issue 10) ----
export type { AdapterOptions, UMSocket } from './adapters.js';
export { serveHttp } from './http.js';
export type { HttpServing } from './http.js';
// ---- end (issue 10) ----
// ---- TLS (issue 11) ----
export { TlsConnection, SecureContext, TLSError, createSecureContext, liveObjects as tlsLiveObjects } from './tls.js';
export type { TlsOptions, SecureContextOptions } from './tls.js';
// ---- end (issue 11) ----
