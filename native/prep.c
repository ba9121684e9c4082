/*
 * prep.c: plain C arguments into an SQE, for the C users of the ring layer
 * (native/test, bench/). The addon fills SQEs from a JavaScript-written
 * template instead (js_machine.c), so that op kinds are data in op-kinds.ts.
 * Field meanings per io_uring_enter(2).
 */
#include <string.h>

#include "um.h"

void um_prep_rw(struct um_sqe *sqe, uint8_t op, int fd, const void *addr, uint32_t len, uint64_t off) {
  sqe->opcode = op;
  sqe->fd = fd;
  sqe->addr = (uint64_t)(uintptr_t)addr;
  sqe->len = len;
  sqe->off = off;
}

void um_prep_nop(struct um_sqe *sqe) { sqe->opcode = UM_OP_NOP; }

/* The kernel copies *ts while preparing the request (io_timeout_prep), so ts
 * only has to live until the SQE is submitted. */
void um_prep_timeout(struct um_sqe *sqe, struct um_kernel_timespec *ts, unsigned count, unsigned flags) {
  um_prep_rw(sqe, UM_OP_TIMEOUT, -1, ts, 1, count);
  sqe->op_flags = flags;
}

void um_prep_cancel(struct um_sqe *sqe, uint64_t user_data, unsigned flags) {
  um_prep_rw(sqe, UM_OP_ASYNC_CANCEL, -1, (void *)(uintptr_t)user_data, 0, 0);
  sqe->op_flags = flags;
}
