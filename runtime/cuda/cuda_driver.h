// cuda_driver.h: the few CUDA driver API calls the GPU runtime makes, loaded at
// run time from libcuda.so.1 (dlopen), so awqc builds and runs its tests on
// machines without a GPU or a driver. Types are declared here, not taken from
// cuda.h: only what the runtime passes through.
#ifndef AWQC_CUDA_DRIVER_H
#define AWQC_CUDA_DRIVER_H

#include <stdbool.h>
#include <stddef.h>

#include "common/util.h"

typedef int CUresult;
typedef int CUdevice;
typedef unsigned long long CUdeviceptr;
typedef struct CUctx_st *CUcontext;
typedef struct CUmod_st *CUmodule;
typedef struct CUfunc_st *CUfunction;
typedef struct CUstream_st *CUstream;
typedef struct CUgraph_st *CUgraph;
typedef struct CUgraphExec_st *CUgraphExec;
typedef struct CUevent_st *CUevent;

#define CUDA_ATTR_CC_MAJOR 75
#define CUDA_ATTR_CC_MINOR 76
#define CUDA_ATTR_SMEM_OPTIN 97 // most shared memory a block may opt in to
#define CUDA_FUNC_ATTR_MAX_DYN_SMEM 8
#define CUDA_CAPTURE_THREAD_LOCAL 1
#define CUDA_STREAM_NON_BLOCKING 1

typedef struct {
    void *lib;
    CUresult (*Init)(unsigned);
    CUresult (*DeviceGet)(CUdevice *, int);
    CUresult (*DeviceGetAttribute)(int *, int, CUdevice);
    CUresult (*DeviceGetName)(char *, int, CUdevice);
    CUresult (*DeviceTotalMem)(size_t *, CUdevice);
    CUresult (*PrimaryCtxRetain)(CUcontext *, CUdevice);
    CUresult (*PrimaryCtxRelease)(CUdevice);
    CUresult (*CtxSetCurrent)(CUcontext);
    CUresult (*CtxSynchronize)(void);
    CUresult (*ModuleLoadData)(CUmodule *, const void *);
    CUresult (*ModuleUnload)(CUmodule);
    CUresult (*ModuleGetFunction)(CUfunction *, CUmodule, const char *);
    CUresult (*FuncSetAttribute)(CUfunction, int, int);
    CUresult (*MemAlloc)(CUdeviceptr *, size_t);
    CUresult (*MemFree)(CUdeviceptr);
    CUresult (*MemcpyHtoD)(CUdeviceptr, const void *, size_t);
    CUresult (*MemcpyDtoH)(void *, CUdeviceptr, size_t);
    CUresult (*MemcpyDtoD)(CUdeviceptr, CUdeviceptr, size_t);
    CUresult (*MemcpyHtoDAsync)(CUdeviceptr, const void *, size_t, CUstream);
    CUresult (*MemcpyDtoHAsync)(void *, CUdeviceptr, size_t, CUstream);
    CUresult (*MemsetD8)(CUdeviceptr, unsigned char, size_t);
    CUresult (*StreamCreate)(CUstream *, unsigned);
    CUresult (*StreamDestroy)(CUstream);
    CUresult (*StreamSynchronize)(CUstream);
    CUresult (*StreamBeginCapture)(CUstream, int);
    CUresult (*StreamEndCapture)(CUstream, CUgraph *);
    CUresult (*GraphInstantiate)(CUgraphExec *, CUgraph, unsigned long long);
    CUresult (*GraphLaunch)(CUgraphExec, CUstream);
    CUresult (*GraphExecDestroy)(CUgraphExec);
    CUresult (*GraphDestroy)(CUgraph);
    CUresult (*LaunchKernel)(CUfunction, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                             CUstream, void **, void **);
    CUresult (*EventCreate)(CUevent *, unsigned);
    CUresult (*EventRecord)(CUevent, CUstream);
    CUresult (*EventSynchronize)(CUevent);
    CUresult (*EventElapsedTime)(float *, CUevent, CUevent);
    CUresult (*EventDestroy)(CUevent);
    CUresult (*GetErrorString)(CUresult, const char **);
    // Set by cuda_driver_open: device 0, its primary context, compute capability.
    CUdevice dev;
    CUcontext ctx;
    int sm; // 10 * major + minor
    int smem_optin; // bytes of shared memory a block may use, static + dynamic
    char name[128];
} CudaDriver;

// dlopens libcuda.so.1, resolves the calls, cuInit(0), makes device 0's
// primary context current. False with "no CUDA driver (libcuda.so.1 not
// found: ...)" or "no GPU: cuInit failed: ..." in err; d is then closed.
bool cuda_driver_open(CudaDriver *d, AwqcError *err);
void cuda_driver_close(CudaDriver *d);

// Checks a driver call: false with "what: CUDA error N (name)" in err.
bool cuda_check(const CudaDriver *d, CUresult r, const char *what, AwqcError *err);

#endif
