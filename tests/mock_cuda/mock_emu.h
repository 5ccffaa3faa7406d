// mock_emu.h: the mock driver's kernel emulation (mock_emu.c): with
// $AWQC_MOCK_CUDA_EMU set to a folder, launches compute what the GPU would,
// by kernels.cuh compiled for the CPU (cuda_emu.hpp) and cached there.
#ifndef MOCK_EMU_H
#define MOCK_EMU_H

#include <stdbool.h>
#include <stddef.h>

bool emu_on(void);

// A kernel the runtime looked up: it is compiled with the next batch.
void emu_want(const char *name);

// sizeof(KArgs), the one parameter of every kernel (a cubin does not say);
// 0 with the reason in why when the kernels do not compile.
size_t emu_args_size(char *why, size_t why_size);

// Runs kernel `name` over the grid on the CPU; false with the reason in why.
bool emu_launch(const char *name, const unsigned grid[3], const unsigned block[3], unsigned smem, const void *args,
                char *why, size_t why_size);

#endif
