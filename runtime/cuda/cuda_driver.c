// cuda_driver.c: loads the CUDA driver library at run time and resolves the
// calls of cuda_driver.h by their exported (versioned) names, so nothing links
// against libcuda and a machine without a GPU only sees a clear error.
#include "runtime/cuda/cuda_driver.h"

#include <dlfcn.h>
#include <string.h>

// ----------------------------------------------------------------------------

typedef struct {
    const char *symbol;
    size_t offset; // of the function pointer in CudaDriver
} DriverSym;

#define SYM(field, name) {name, offsetof(CudaDriver, field)}
static const DriverSym SYMS[] = {
    SYM(Init, "cuInit"), SYM(DeviceGet, "cuDeviceGet"), SYM(DeviceGetAttribute, "cuDeviceGetAttribute"),
    SYM(DeviceGetName, "cuDeviceGetName"), SYM(DeviceTotalMem, "cuDeviceTotalMem_v2"),
    SYM(PrimaryCtxRetain, "cuDevicePrimaryCtxRetain"), SYM(PrimaryCtxRelease, "cuDevicePrimaryCtxRelease_v2"),
    SYM(CtxSetCurrent, "cuCtxSetCurrent"), SYM(CtxSynchronize, "cuCtxSynchronize"),
    SYM(ModuleLoadData, "cuModuleLoadData"),
    SYM(ModuleUnload, "cuModuleUnload"), SYM(ModuleGetFunction, "cuModuleGetFunction"),
    SYM(FuncSetAttribute, "cuFuncSetAttribute"), SYM(MemAlloc, "cuMemAlloc_v2"), SYM(MemFree, "cuMemFree_v2"),
    SYM(MemcpyHtoD, "cuMemcpyHtoD_v2"), SYM(MemcpyDtoH, "cuMemcpyDtoH_v2"), SYM(MemcpyDtoD, "cuMemcpyDtoD_v2"),
    SYM(MemcpyHtoDAsync, "cuMemcpyHtoDAsync_v2"), SYM(MemcpyDtoHAsync, "cuMemcpyDtoHAsync_v2"),
    SYM(MemsetD8, "cuMemsetD8_v2"), SYM(StreamCreate, "cuStreamCreate"), SYM(StreamDestroy, "cuStreamDestroy_v2"),
    SYM(StreamSynchronize, "cuStreamSynchronize"), SYM(StreamBeginCapture, "cuStreamBeginCapture_v2"),
    SYM(StreamEndCapture, "cuStreamEndCapture"), SYM(GraphInstantiate, "cuGraphInstantiateWithFlags"),
    SYM(GraphLaunch, "cuGraphLaunch"), SYM(GraphExecDestroy, "cuGraphExecDestroy"),
    SYM(GraphDestroy, "cuGraphDestroy"), SYM(LaunchKernel, "cuLaunchKernel"), SYM(EventCreate, "cuEventCreate"),
    SYM(EventRecord, "cuEventRecord"), SYM(EventSynchronize, "cuEventSynchronize"),
    SYM(EventElapsedTime, "cuEventElapsedTime_v2"), SYM(EventDestroy, "cuEventDestroy_v2"),
    SYM(GetErrorString, "cuGetErrorString"),
};

bool cuda_check(const CudaDriver *d, CUresult r, const char *what, AwqcError *err) {
    if (r == 0) return true;
    const char *s = NULL;
    if (d->GetErrorString) d->GetErrorString(r, &s);
    return awqc_fail(err, "%s: CUDA error %d (%s)", what, r, s ? s : "unknown");
}

static bool resolve(CudaDriver *d, AwqcError *err) {
    for (size_t i = 0; i < sizeof SYMS / sizeof *SYMS; i++) {
        void *f = dlsym(d->lib, SYMS[i].symbol);
        if (!f && strcmp(SYMS[i].symbol, "cuEventElapsedTime_v2") == 0) f = dlsym(d->lib, "cuEventElapsedTime");
        if (!f) return awqc_fail(err, "no CUDA driver: libcuda.so.1 lacks %s (driver too old?)", SYMS[i].symbol);
        memcpy((char *)d + SYMS[i].offset, &f, sizeof f); // function pointer from dlsym's void *
    }
    return true;
}

static bool open_device(CudaDriver *d, AwqcError *err) {
    CUresult r = d->Init(0);
    if (r != 0) {
        cuda_check(d, r, "cuInit", err);
        awqc_error_prefix(err, "no GPU");
        return false;
    }
    int major = 0, minor = 0;
    if (!cuda_check(d, d->DeviceGet(&d->dev, 0), "no GPU: cuDeviceGet(0)", err) ||
        !cuda_check(d, d->DeviceGetAttribute(&major, CUDA_ATTR_CC_MAJOR, d->dev), "cuDeviceGetAttribute", err) ||
        !cuda_check(d, d->DeviceGetAttribute(&minor, CUDA_ATTR_CC_MINOR, d->dev), "cuDeviceGetAttribute", err) ||
        !cuda_check(d, d->DeviceGetAttribute(&d->smem_optin, CUDA_ATTR_SMEM_OPTIN, d->dev), "cuDeviceGetAttribute",
                    err))
        return false;
    d->sm = 10 * major + minor;
    d->DeviceGetName(d->name, (int)sizeof d->name, d->dev);
    if (!cuda_check(d, d->PrimaryCtxRetain(&d->ctx, d->dev), "cuDevicePrimaryCtxRetain", err)) return false;
    return cuda_check(d, d->CtxSetCurrent(d->ctx), "cuCtxSetCurrent", err);
}

bool cuda_driver_open(CudaDriver *d, AwqcError *err) {
    memset(d, 0, sizeof *d);
    d->lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!d->lib) {
        const char *why = dlerror();
        return awqc_fail(err, "no CUDA driver (libcuda.so.1 not found: %s)", why ? why : "dlopen failed");
    }
    if (resolve(d, err) && open_device(d, err)) return true;
    cuda_driver_close(d);
    return false;
}

// The library stays loaded (no dlclose): after cuInit the driver runs threads
// of its own, and unloading it under them (cuda_available or --target
// cuda:native before an engine opens, the bandwidth probe) can crash.
// dlopen of it again returns the same handle.
void cuda_driver_close(CudaDriver *d) {
    if (d->ctx) d->PrimaryCtxRelease(d->dev);
    memset(d, 0, sizeof *d);
}
