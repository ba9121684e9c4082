/*
 * tls_weak_test.c: native/tls.c linked into a program WITHOUT OpenSSL (no
 * node, no libssl), as on a node binary that does not export the OpenSSL
 * functions. Every OpenSSL reference in tls.c is weak, so this links and
 * runs, and um_tls_missing_symbol() names a missing function instead of
 * the loader failing: that is what lets um.node load and m.tls() reject
 * with an UnsupportedError there. Run by scripts/test-c.sh.
 */
#include <stdio.h>
#include <string.h>

#include "../um_tls.h"

int main(void) {
  const char *m = um_tls_missing_symbol();
  if (m == NULL) {
    fprintf(stderr, "tls_weak_test: FAIL: every OpenSSL symbol resolved in a program that links no OpenSSL\n");
    return 1;
  }
  long c = -1, n = -1;
  um_tls_live(&c, &n);
  if (c != 0 || n != 0) {
    fprintf(stderr, "tls_weak_test: FAIL: live counts %ld %ld\n", c, n);
    return 1;
  }
  printf("tls_weak_test: ok (first missing: %s)\n", m);
  return 0;
}
