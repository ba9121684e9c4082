/*
 * addon.c: module init and export table.
 */
#define _GNU_SOURCE
#include <dlfcn.h>

#include "js.h"

/* Never unload this library. A worker thread that was the only user of the
 * addon unloads it at exit, but its libuv loop still runs our poll handle's
 * close callback after that (seen as a SIGSEGV in uv__finish_close), and a
 * ring's teardown must be able to run its code. RTLD_NOLOAD|RTLD_NODELETE
 * only marks the already-loaded object as not unloadable. */
static void pin_library(void) {
  Dl_info info;
  if (dladdr((void *)pin_library, &info) && info.dli_fname) dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
}

NAPI_MODULE_INIT() {
  pin_library();
  if (js_machine_init(env, exports) != napi_ok) return NULL;
  if (js_helpers_init(env, exports) != napi_ok) return NULL;
  if (js_constants_init(env, exports) != napi_ok) return NULL;
  if (js_tls_init(env, exports) != napi_ok) return NULL;
  return exports;
}
