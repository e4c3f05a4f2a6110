#pragma once
// The one spin-wait hint of the project: PAUSE on x86, YIELD on AArch64, nothing elsewhere.
// For busy-wait loops on shared memory (rings, queues, the pool's worker and parent loops):
// it tells the core a spin is in progress (saves power, frees the sibling hyper-thread and
// avoids the memory-order mis-speculation flush when the awaited line finally changes).

namespace ringpool::ipc::detail {

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace ringpool::ipc::detail
