/*
 * tvm-sepnet kernel loader: runs one function of a TVM-exported kernel library (.so) without the TVM
 * runtime, so kernels can be tested on targets that have no TVM wheels (armv7) under qemu-user.
 *
 *   kernel_loader LIB.so SYMBOL ARG...      ARG = in:PATH:DTYPE:SHAPE | out:PATH:DTYPE:SHAPE
 *                                           DTYPE = float32|float64|int8|...|uint64, SHAPE = 2x3x4
 *
 * Inputs are raw little-endian arrays read from PATH; outputs are written to PATH after the call.
 * The library needs from its host only the error hook (defined here, exported with -rdynamic) and
 * the backend function slots for workspaces and parallel loops, which this loader fills: parallel
 * tasks run on pthreads (LOADER_THREADS, default 2). Exit status: 0 ok, 2 usage, 3 load, 4 I/O,
 * 5 the kernel reported an error (message on stderr).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tvm/ffi/c_api.h>

void TVMFFIErrorSetRaisedFromCStrParts(const char* kind, const char** parts, int32_t count) {
  fprintf(stderr, "kernel error (%s): ", kind);
  for (int32_t i = 0; i < count; ++i) {
    if (parts[i] != NULL) fputs(parts[i], stderr);
  }
  fputc('\n', stderr);
}

static void* workspace_alloc(int device_type, int device_id, uint64_t bytes, int code, int bits) {
  (void)device_type; (void)device_id; (void)code; (void)bits;
  void* ptr = NULL;
  return posix_memalign(&ptr, 64, bytes > 0 ? bytes : 1) == 0 ? ptr : NULL;
}

static int workspace_free(int device_type, int device_id, void* ptr) {
  (void)device_type; (void)device_id;
  free(ptr);
  return 0;
}

typedef struct { void* sync; int32_t num_task; } group_env_t;
typedef int (*task_fn_t)(int task_id, group_env_t* env, void* closure);
typedef struct { task_fn_t fn; group_env_t* env; void* closure; int id; int status; } job_t;

static void* run_job(void* arg) {
  job_t* job = (job_t*)arg;
  job->status = job->fn(job->id, job->env, job->closure);
  return NULL;
}

enum { MAX_THREADS = 32 };

static int parallel_launch(task_fn_t fn, void* closure, int num_task) {
  const char* env_threads = getenv("LOADER_THREADS");
  int n = num_task > 0 ? num_task : (env_threads != NULL ? atoi(env_threads) : 2);
  if (n < 1) n = 1;
  if (n > MAX_THREADS) n = MAX_THREADS;
  group_env_t group = {NULL, n};
  pthread_t threads[MAX_THREADS];
  job_t jobs[MAX_THREADS];
  for (int i = 0; i < n; ++i) {
    jobs[i] = (job_t){fn, &group, closure, i, 0};
    pthread_create(&threads[i], NULL, run_job, &jobs[i]);
  }
  int status = 0;
  for (int i = 0; i < n; ++i) {
    pthread_join(threads[i], NULL);
    status |= jobs[i].status;
  }
  return status;
}

static int parse_dtype(const char* name, DLDataType* out) {
  static const struct { const char* name; uint8_t code; uint8_t bits; } table[] = {
      {"float32", kDLFloat, 32}, {"float64", kDLFloat, 64}, {"int8", kDLInt, 8},
      {"int16", kDLInt, 16},     {"int32", kDLInt, 32},     {"int64", kDLInt, 64},
      {"uint8", kDLUInt, 8},     {"uint16", kDLUInt, 16},   {"uint32", kDLUInt, 32},
      {"uint64", kDLUInt, 64}};
  for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); ++i) {
    if (strcmp(name, table[i].name) == 0) {
      out->code = table[i].code;
      out->bits = table[i].bits;
      out->lanes = 1;
      return 0;
    }
  }
  return -1;
}

typedef struct { int output; const char* path; DLTensor tensor; size_t bytes; } arg_t;

static int parse_arg(char* text, arg_t* arg) {
  char* save = NULL;
  char* kind = strtok_r(text, ":", &save);
  char* path = strtok_r(NULL, ":", &save);
  char* dtype = strtok_r(NULL, ":", &save);
  char* shape = strtok_r(NULL, ":", &save);
  if (kind == NULL || path == NULL || dtype == NULL || shape == NULL) return -1;
  if (strcmp(kind, "in") != 0 && strcmp(kind, "out") != 0) return -1;
  arg->output = strcmp(kind, "out") == 0;
  arg->path = path;
  memset(&arg->tensor, 0, sizeof(DLTensor));
  if (parse_dtype(dtype, &arg->tensor.dtype) != 0) return -1;
  int64_t* dims = calloc(16, sizeof(int64_t));
  size_t count = 1;
  int ndim = 0;
  char* save_dim = NULL;
  for (char* d = strtok_r(shape, "x", &save_dim); d != NULL && ndim < 16; d = strtok_r(NULL, "x", &save_dim)) {
    dims[ndim] = atoll(d);
    count *= (size_t)dims[ndim++];
  }
  arg->tensor.ndim = ndim;
  arg->tensor.shape = dims;
  arg->tensor.device.device_type = kDLCPU;
  arg->bytes = count * arg->tensor.dtype.bits / 8;
  if (posix_memalign(&arg->tensor.data, 64, arg->bytes > 0 ? arg->bytes : 1) != 0) return -1;
  memset(arg->tensor.data, 0, arg->bytes);
  return 0;
}

static int transfer(arg_t* arg, int write) {
  FILE* f = fopen(arg->path, write ? "wb" : "rb");
  if (f == NULL) {
    perror(arg->path);
    return -1;
  }
  size_t done = write ? fwrite(arg->tensor.data, 1, arg->bytes, f) : fread(arg->tensor.data, 1, arg->bytes, f);
  fclose(f);
  if (done != arg->bytes) {
    fprintf(stderr, "%s: expected %zu bytes, got %zu\n", arg->path, arg->bytes, done);
    return -1;
  }
  return 0;
}

typedef int (*packed_fn_t)(void* self, const TVMFFIAny* args, int32_t num_args, TVMFFIAny* result);

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s LIB.so SYMBOL in|out:PATH:DTYPE:SHAPE...\n", argv[0]);
    return 2;
  }
  void* lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (lib == NULL) {
    fprintf(stderr, "cannot load %s: %s\n", argv[1], dlerror());
    return 3;
  }
  void** slot;
  if ((slot = (void**)dlsym(lib, "__TVMBackendAllocWorkspace")) != NULL) *slot = (void*)workspace_alloc;
  if ((slot = (void**)dlsym(lib, "__TVMBackendFreeWorkspace")) != NULL) *slot = (void*)workspace_free;
  if ((slot = (void**)dlsym(lib, "__TVMBackendParallelLaunch")) != NULL) *slot = (void*)parallel_launch;
  packed_fn_t fn = (packed_fn_t)dlsym(lib, argv[2]);
  if (fn == NULL) {
    fprintf(stderr, "no function %s in %s\n", argv[2], argv[1]);
    return 3;
  }
  int n = argc - 3;
  arg_t* args = calloc((size_t)n + 1, sizeof(arg_t));
  TVMFFIAny* packed = calloc((size_t)n + 1, sizeof(TVMFFIAny));
  for (int i = 0; i < n; ++i) {
    if (parse_arg(argv[3 + i], &args[i]) != 0) {
      fprintf(stderr, "bad argument %d: want in|out:PATH:DTYPE:SHAPE\n", i);
      return 2;
    }
    if (!args[i].output && transfer(&args[i], 0) != 0) return 4;
    packed[i].type_index = kTVMFFIDLTensorPtr;
    packed[i].v_ptr = &args[i].tensor;
  }
  TVMFFIAny result;
  memset(&result, 0, sizeof(result));
  result.type_index = kTVMFFINone;
  if (fn(NULL, packed, n, &result) != 0) return 5;
  for (int i = 0; i < n; ++i) {
    if (args[i].output && transfer(&args[i], 1) != 0) return 4;
  }
  return 0;
}
