/*
 * addon.c: module init and export table.
 */
#include "js.h"

NAPI_MODULE_INIT() {
  if (js_machine_init(env, exports) != napi_ok) return NULL;
  if (js_helpers_init(env, exports) != napi_ok) return NULL;
  if (js_constants_init(env, exports) != napi_ok) return NULL;
  return exports;
}
