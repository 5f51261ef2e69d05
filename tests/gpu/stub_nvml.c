/*
 * A stand-in libnvidia-ml.so.1 for tests: the real nvidia-ml-py binding loads it with ctypes exactly as it
 * loads NVIDIA's library, so kvplan's NVML adapter runs unpatched on a machine with no GPU.
 *
 * Only the entry points kvplan calls exist. Struct layouts follow nvml.h as nvidia-ml-py declares them
 * (c_nvmlMemory_t, c_nvmlMemory_v2_t, c_nvmlProcessInfo_v2_t), since those are what the binding passes.
 *
 * The devices come from a text file named by $KVPLAN_STUB_NVML, read at nvmlInitWithFlags; one "key value"
 * per line (tests/gpu/conftest.py writes it from a dict):
 *
 *   init <rc>                  return code of nvmlInitWithFlags (9 = driver not loaded)
 *   count_rc <rc>              return code of nvmlDeviceGetCount_v2
 *   gpu                        starts a device; the keys below apply to the last one
 *   name <rest of line>        uuid <text>        cc <major> <minor>        mig <0|1>
 *   total|reserved|used|free <bytes>
 *   v2_rc <rc>                 return code of nvmlDeviceGetMemoryInfo_v2 (0 = answers)
 *   v1_rc <rc>                 return code of nvmlDeviceGetMemoryInfo (3 = Not Supported, as on a GB10)
 *   name_rc <rc>               return code of nvmlDeviceGetName
 *   procs_rc <rc>              return code of the process queries
 *   proc <pid> <used bytes>    a running compute process
 *
 * Built twice: as is (a current driver) and with -DSTUB_OLD_DRIVER, which leaves out
 * nvmlDeviceGetMemoryInfo_v2 and nvmlDeviceGetComputeRunningProcesses_v3, as drivers before R510 do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int nvmlReturn_t;
enum {
    NVML_SUCCESS = 0,
    NVML_ERROR_UNINITIALIZED = 1,
    NVML_ERROR_INVALID_ARGUMENT = 2,
    NVML_ERROR_INSUFFICIENT_SIZE = 7,
    NVML_ERROR_UNKNOWN = 999,
    NVML_ERROR_ARGUMENT_VERSION_MISMATCH = 25,
};

#define MAX_GPUS 8
#define MAX_PROCS 16

typedef struct {
    unsigned int pid;
    unsigned long long usedGpuMemory;
    unsigned int gpuInstanceId;
    unsigned int computeInstanceId;
} nvmlProcessInfo_t;

typedef struct {
    unsigned long long total, free, used;
} nvmlMemory_t;

typedef struct {
    unsigned int version;
    unsigned long long total, reserved, free, used;
} nvmlMemory_v2_t;

#define NVML_STRUCT_VERSION(size, ver) ((unsigned int)(size) | ((unsigned int)(ver) << 24U))

typedef struct nvmlDevice_st {
    char name[96];
    char uuid[96];
    unsigned long long total, reserved, used, free;
    int cc_major, cc_minor, mig;
    int v2_rc, v1_rc, name_rc, procs_rc;
    unsigned int nprocs;
    nvmlProcessInfo_t procs[MAX_PROCS];
} *nvmlDevice_t;

static struct nvmlDevice_st gpus[MAX_GPUS];
static unsigned int ngpus;
static int initialised;
static int count_rc;

static void copy_field(char *dst, size_t cap, const char *src) {
    size_t n = strcspn(src, "\r\n");
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static nvmlReturn_t load_config(void) {
    const char *path = getenv("KVPLAN_STUB_NVML");
    char line[256];
    int init_rc = NVML_SUCCESS;
    FILE *f;
    struct nvmlDevice_st *g = NULL;

    memset(gpus, 0, sizeof gpus);
    ngpus = 0;
    count_rc = NVML_SUCCESS;
    if (path == NULL || (f = fopen(path, "r")) == NULL) return NVML_ERROR_UNKNOWN;
    while (fgets(line, sizeof line, f) != NULL) {
        char key[32];
        int off = 0;
        if (sscanf(line, "%31s %n", key, &off) != 1) continue;
        const char *val = line + off;
        if (strcmp(key, "init") == 0) init_rc = atoi(val);
        else if (strcmp(key, "count_rc") == 0) count_rc = atoi(val);
        else if (strcmp(key, "gpu") == 0 && ngpus < MAX_GPUS) g = &gpus[ngpus++];
        else if (g == NULL) continue;
        else if (strcmp(key, "name") == 0) copy_field(g->name, sizeof g->name, val);
        else if (strcmp(key, "uuid") == 0) copy_field(g->uuid, sizeof g->uuid, val);
        else if (strcmp(key, "total") == 0) g->total = strtoull(val, NULL, 10);
        else if (strcmp(key, "reserved") == 0) g->reserved = strtoull(val, NULL, 10);
        else if (strcmp(key, "used") == 0) g->used = strtoull(val, NULL, 10);
        else if (strcmp(key, "free") == 0) g->free = strtoull(val, NULL, 10);
        else if (strcmp(key, "cc") == 0) sscanf(val, "%d %d", &g->cc_major, &g->cc_minor);
        else if (strcmp(key, "mig") == 0) g->mig = atoi(val);
        else if (strcmp(key, "v2_rc") == 0) g->v2_rc = atoi(val);
        else if (strcmp(key, "v1_rc") == 0) g->v1_rc = atoi(val);
        else if (strcmp(key, "name_rc") == 0) g->name_rc = atoi(val);
        else if (strcmp(key, "procs_rc") == 0) g->procs_rc = atoi(val);
        else if (strcmp(key, "proc") == 0 && g->nprocs < MAX_PROCS) {
            nvmlProcessInfo_t *p = &g->procs[g->nprocs++];
            sscanf(val, "%u %llu", &p->pid, &p->usedGpuMemory);
        }
    }
    fclose(f);
    return init_rc;
}

nvmlReturn_t nvmlInitWithFlags(unsigned int flags) {
    (void)flags;
    nvmlReturn_t rc = load_config();
    initialised = (rc == NVML_SUCCESS);
    return rc;
}

nvmlReturn_t nvmlInit_v2(void) { return nvmlInitWithFlags(0); }

nvmlReturn_t nvmlShutdown(void) {
    if (!initialised) return NVML_ERROR_UNINITIALIZED;
    initialised = 0;
    return NVML_SUCCESS;
}

const char *nvmlErrorString(nvmlReturn_t rc) {
    static char buf[64];
    snprintf(buf, sizeof buf, "stub NVML error %d", rc);
    return buf;
}

nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
    if (!initialised) return NVML_ERROR_UNINITIALIZED;
    if (count_rc != NVML_SUCCESS) return count_rc;
    *count = ngpus;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
    if (!initialised) return NVML_ERROR_UNINITIALIZED;
    if (index >= ngpus || device == NULL) return NVML_ERROR_INVALID_ARGUMENT;
    *device = &gpus[index];
    return NVML_SUCCESS;
}

static nvmlReturn_t copy_out(const char *src, char *dst, unsigned int length) {
    if (strlen(src) + 1 > length) return NVML_ERROR_INSUFFICIENT_SIZE;
    strcpy(dst, src);
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t device, char *name, unsigned int length) {
    if (device->name_rc != NVML_SUCCESS) return device->name_rc;
    return copy_out(device->name, name, length);
}

nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t device, char *uuid, unsigned int length) {
    return copy_out(device->uuid, uuid, length);
}

/* v1 as drivers since R510 fill it: "used" includes the reserved memory, so used + free == total. */
nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t device, nvmlMemory_t *memory) {
    if (device->v1_rc != NVML_SUCCESS) return device->v1_rc;
    memory->total = device->total;
    memory->free = device->free;
    memory->used = device->used + device->reserved;
    return NVML_SUCCESS;
}

#ifndef STUB_OLD_DRIVER
nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t device, nvmlMemory_v2_t *memory) {
    if (device->v2_rc != NVML_SUCCESS) return device->v2_rc;
    if (memory->version != NVML_STRUCT_VERSION(sizeof(nvmlMemory_v2_t), 2))
        return NVML_ERROR_ARGUMENT_VERSION_MISMATCH;
    memory->total = device->total;
    memory->reserved = device->reserved;
    memory->free = device->free;
    memory->used = device->used;
    return NVML_SUCCESS;
}
#endif

nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t device, int *major, int *minor) {
    *major = device->cc_major;
    *minor = device->cc_minor;
    return NVML_SUCCESS;
}

nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t device, unsigned int *current, unsigned int *pending) {
    *current = (unsigned int)device->mig;
    *pending = (unsigned int)device->mig;
    return NVML_SUCCESS;
}

/* NVML's two-call protocol: a NULL array (or one too small) answers INSUFFICIENT_SIZE with the count. */
static nvmlReturn_t running_processes(nvmlDevice_t device, unsigned int *count, nvmlProcessInfo_t *infos) {
    if (device->procs_rc != NVML_SUCCESS) return device->procs_rc;
    if (device->nprocs == 0) {
        *count = 0;
        return NVML_SUCCESS;
    }
    if (infos == NULL || *count < device->nprocs) {
        *count = device->nprocs;
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    memcpy(infos, device->procs, device->nprocs * sizeof(nvmlProcessInfo_t));
    *count = device->nprocs;
    return NVML_SUCCESS;
}

#ifndef STUB_OLD_DRIVER
nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d, unsigned int *c, nvmlProcessInfo_t *i) {
    return running_processes(d, c, i);
}
#endif

nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t d, unsigned int *c, nvmlProcessInfo_t *i) {
    return running_processes(d, c, i);
}
