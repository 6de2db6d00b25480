/* Peak-throughput micro-kernels for this CPU (tvm-sepnet benchmarks).
 * Each runs on every OpenMP thread over in-L1 data with independent accumulators, so it measures the
 * execution units, not memory. Built by peak.py with: cc -O3 -march=native -fopenmp.
 *   popcount: acc += popcount(a[i] & b[i]) on 64-bit words  -> 64 binary MACs per word
 *   int16 madd: acc(int32) += a(int16) * b(int16), GCC vectorizes it to (v)pmaddwd -> 1 MAC per pair
 *   fp32 fma: 8 independent vector FMA chains                 -> 1 MAC per lane
 *   popcount avx2: vpshufb nibble-table popcount + vpsadbw on 256-bit registers
 *   vpopcntq (AVX-512 VPOPCNTDQ), vnni (vpdpbusd), ubsw (vpmaddubsw + vpmaddwd), amx (tdpbusd): where the
 *   host has them (0 elsewhere)
 * Prints one line: "<scalar popcount> <avx2 popcount> <int16 MAC/s> <fp32 MAC/s> <vpopcntq bin-MAC/s> <vnni MAC/s>
 *   <ubsw MAC/s> <amx MAC/s> <threads>". */
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>


static double now(void) { return omp_get_wtime(); }

static double popcount_peak(long reps) {
  /* scalar POPCNT on 64-bit words held in registers: and + popcnt + add per word */
  double t0 = now();
  uint64_t sink = 0;
#pragma omp parallel reduction(+ : sink)
  {
    uint64_t x[8], acc[8] = {0};
    const uint64_t w = 0x9E3779B97F4A7C15ull ^ (uint64_t)omp_get_thread_num();
    for (int k = 0; k < 8; k++) x[k] = 0xD1B54A32D192ED03ull * (k + 1);
    for (long r = 0; r < reps; r++)
      for (int k = 0; k < 8; k++) { acc[k] += __builtin_popcountll(x[k] & w); x[k] += acc[k]; }
    for (int k = 0; k < 8; k++) sink += acc[k];
  }
  double dt = now() - t0;
  if (sink == 42) puts("");
  return (double)reps * 8 * 64 * omp_get_max_threads() / dt;
}

#ifdef __AVX2__
#include <immintrin.h>
static double popcount_avx2_peak(long reps) {
  /* AVX2 has no vector popcount: nibble lookup with vpshufb, byte sums with vpsadbw (the usual
   * technique), on 256-bit registers */
  double t0 = now();
  uint64_t sink = 0;
#pragma omp parallel reduction(+ : sink)
  {
    const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                         0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i low = _mm256_set1_epi8(0x0f);
    __m256i x[4], acc[4], w = _mm256_set1_epi64x(0x9E3779B97F4A7C15ll + omp_get_thread_num());
    for (int k = 0; k < 4; k++) { x[k] = _mm256_set1_epi64x(0xD1B54A32D192ED03ll * (k + 1)); acc[k] = _mm256_setzero_si256(); }
    for (long r = 0; r < reps; r++)
      for (int k = 0; k < 4; k++) {
        __m256i v = _mm256_and_si256(x[k], w);
        __m256i c = _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_and_si256(v, low)),
                                    _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(v, 4), low)));
        acc[k] = _mm256_add_epi64(acc[k], _mm256_sad_epu8(c, _mm256_setzero_si256()));
        x[k] = _mm256_add_epi64(x[k], acc[k]);
      }
    for (int k = 0; k < 4; k++) sink += (uint64_t)_mm256_extract_epi64(acc[k], 0);
  }
  double dt = now() - t0;
  if (sink == 42) puts("");
  return (double)reps * 4 * 256 * omp_get_max_threads() / dt;
}

static double int16_peak(long reps) {
  /* vpmaddwd: 16 int16 products summed pairwise into 8 int32 lanes; 12 accumulators over 2 operand
   * registers; an empty asm barrier marks the operands as changed each step so nothing is hoisted,
   * and the accumulators' only dependency is a 1-cycle add: throughput, not latency, is measured */
  double t0 = now();
  int64_t sink = 0;
#pragma omp parallel reduction(+ : sink)
  {
    __m256i acc[12], x[2], b = _mm256_set1_epi16(-7 + omp_get_thread_num());
    for (int k = 0; k < 12; k++) acc[k] = _mm256_set1_epi32(k);
    for (int k = 0; k < 2; k++) x[k] = _mm256_set1_epi16(3 + k);
    for (long r = 0; r < reps; r++) {
      for (int k = 0; k < 2; k++) __asm__ volatile("" : "+x"(x[k]));
      for (int k = 0; k < 12; k++) acc[k] = _mm256_add_epi32(acc[k], _mm256_madd_epi16(x[k & 1], b));
    }
    for (int k = 0; k < 12; k++) sink += _mm256_extract_epi32(acc[k], 0);
  }
  double dt = now() - t0;
  if (sink == 42) puts("");
  return (double)reps * 12 * 16 * omp_get_max_threads() / dt;
}
#else
static double popcount_avx2_peak(long reps) { (void)reps; return 0.0; }
static double int16_peak(long reps) { (void)reps; return 0.0; }
#endif


/* ---- AVX-512 and AMX units: compiled where -march=native has them (the same source is built with
 * -march=sapphirerapids by the tests to check the instructions, on any host) ---- */
#if defined(__AVX512VPOPCNTDQ__) && defined(__AVX512F__)
static double vpopcntq_peak(long reps) {
  /* AND + VPOPCNTQ + add on 512-bit registers: 512 binary MACs per popcount */
  double t0 = now();
  uint64_t sink = 0;
#pragma omp parallel reduction(+ : sink)
  {
    __m512i x[8], acc[8], w = _mm512_set1_epi64(0x9E3779B97F4A7C15ll + omp_get_thread_num());
    for (int k = 0; k < 8; k++) { x[k] = _mm512_set1_epi64(0xD1B54A32D192ED03ll * (k + 1)); acc[k] = _mm512_setzero_si512(); }
    for (long r = 0; r < reps; r++) {
      for (int k = 0; k < 8; k++) __asm__ volatile("" : "+v"(x[k]));
      for (int k = 0; k < 8; k++) acc[k] = _mm512_add_epi64(acc[k], _mm512_popcnt_epi64(_mm512_and_si512(x[k], w)));
    }
    for (int k = 0; k < 8; k++) sink += (uint64_t)_mm512_reduce_add_epi64(acc[k]);
  }
  double dt = now() - t0;
  if (sink == 42) puts("");
  return (double)reps * 8 * 512 * omp_get_max_threads() / dt;
}
#else
static double vpopcntq_peak(long reps) { (void)reps; return 0.0; }
#endif

#if defined(__AVX512VNNI__) && defined(__AVX512F__)
static double vnni_peak(long reps) {
  /* vpdpbusd: 64 uint8 x int8 products into 16 int32 lanes per instruction, 12 accumulators */
  double t0 = now();
  int64_t sink = 0;
#pragma omp parallel reduction(+ : sink)
  {
    __m512i acc[12], x[2], b = _mm512_set1_epi8((char)(-7 + omp_get_thread_num()));
    for (int k = 0; k < 12; k++) acc[k] = _mm512_set1_epi32(k);
    for (int k = 0; k < 2; k++) x[k] = _mm512_set1_epi8((char)(3 + k));
    for (long r = 0; r < reps; r++) {
      for (int k = 0; k < 2; k++) __asm__ volatile("" : "+v"(x[k]));
      for (int k = 0; k < 12; k++) acc[k] = _mm512_dpbusd_epi32(acc[k], x[k & 1], b);
    }
    for (int k = 0; k < 12; k++) sink += _mm512_reduce_add_epi32(acc[k]);
  }
  double dt = now() - t0;
  if (sink == 42) puts("");
  return (double)reps * 12 * 64 * omp_get_max_threads() / dt;
}
#else
static double vnni_peak(long reps) { (void)reps; return 0.0; }
#endif

#if defined(__AVX512BW__)
static double ubsw_peak(long reps) {
  /* vpmaddubsw + vpmaddwd(ones) + add: 64 uint8 x int8 products per step (the +-1-weight dot path) */
  double t0 = now();
  int64_t sink = 0;
#pragma omp parallel reduction(+ : sink)
  {
    __m512i acc[12], x[2], b = _mm512_set1_epi8((char)(-1 + 2 * (omp_get_thread_num() & 1))), ones = _mm512_set1_epi16(1);
    for (int k = 0; k < 12; k++) acc[k] = _mm512_set1_epi32(k);
    for (int k = 0; k < 2; k++) x[k] = _mm512_set1_epi8((char)(3 + k));
    for (long r = 0; r < reps; r++) {
      for (int k = 0; k < 2; k++) __asm__ volatile("" : "+v"(x[k]));
      for (int k = 0; k < 12; k++) acc[k] = _mm512_add_epi32(acc[k], _mm512_madd_epi16(_mm512_maddubs_epi16(x[k & 1], b), ones));
    }
    for (int k = 0; k < 12; k++) sink += _mm512_reduce_add_epi32(acc[k]);
  }
  double dt = now() - t0;
  if (sink == 42) puts("");
  return (double)reps * 12 * 64 * omp_get_max_threads() / dt;
}
#elif defined(__AVX2__)
static double ubsw_peak(long reps) {
  double t0 = now();
  int64_t sink = 0;
#pragma omp parallel reduction(+ : sink)
  {
    __m256i acc[12], x[2], b = _mm256_set1_epi8((char)(-1 + 2 * (omp_get_thread_num() & 1))), ones = _mm256_set1_epi16(1);
    for (int k = 0; k < 12; k++) acc[k] = _mm256_set1_epi32(k);
    for (int k = 0; k < 2; k++) x[k] = _mm256_set1_epi8((char)(3 + k));
    for (long r = 0; r < reps; r++) {
      for (int k = 0; k < 2; k++) __asm__ volatile("" : "+x"(x[k]));
      for (int k = 0; k < 12; k++) acc[k] = _mm256_add_epi32(acc[k], _mm256_madd_epi16(_mm256_maddubs_epi16(x[k & 1], b), ones));
    }
    for (int k = 0; k < 12; k++) sink += _mm256_extract_epi32(acc[k], 0);
  }
  double dt = now() - t0;
  if (sink == 42) puts("");
  return (double)reps * 12 * 32 * omp_get_max_threads() / dt;
}
#else
static double ubsw_peak(long reps) { (void)reps; return 0.0; }
#endif

#if defined(__AMX_INT8__) && defined(__AMX_TILE__)
#include <sys/syscall.h>
#include <unistd.h>
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18
typedef struct { uint8_t palette_id, start_row, reserved[14]; uint16_t colsb[16]; uint8_t rows[16]; } tile_config;
static double amx_peak(long reps) {
  /* tdpbusd: a 16x64 uint8 tile times a 16x64 int8 tile (as 16x16 x4) into 16x16 int32: 16384 MACs;
   * 4 independent accumulator tiles (tmm0..3) over 2 operand pairs (tmm4..7) */
  if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)) return 0.0;  /* the OS refuses AMX */
  double t0 = now();
#pragma omp parallel
  {
    static __thread uint8_t a[16 * 64] __attribute__((aligned(64)));
    static __thread int8_t b[16 * 64] __attribute__((aligned(64)));
    static __thread int32_t c[16 * 16] __attribute__((aligned(64)));
    tile_config cfg = {0};
    cfg.palette_id = 1;
    for (int t = 0; t < 8; t++) { cfg.rows[t] = 16; cfg.colsb[t] = 64; }
    for (int i = 0; i < 16 * 64; i++) { a[i] = (uint8_t)i; b[i] = (int8_t)(i * 7); }
    _tile_loadconfig(&cfg);
    _tile_zero(0); _tile_zero(1); _tile_zero(2); _tile_zero(3);
    _tile_loadd(4, a, 64); _tile_loadd(5, b, 64); _tile_loadd(6, a, 64); _tile_loadd(7, b, 64);
    for (long r = 0; r < reps; r++) {
      _tile_dpbusd(0, 4, 5); _tile_dpbusd(1, 6, 7); _tile_dpbusd(2, 4, 7); _tile_dpbusd(3, 6, 5);
    }
    _tile_stored(0, c, 64);
    _tile_release();
  }
  double dt = now() - t0;
  return (double)reps * 4 * 16384 * omp_get_max_threads() / dt;
}
#else
static double amx_peak(long reps) { (void)reps; return 0.0; }
#endif

typedef float v8f __attribute__((vector_size(32)));

static double fp32_peak(long reps) {
  double t0 = now();
  float sink = 0;
#pragma omp parallel reduction(+ : sink)
  {
    v8f acc[8], x = {1.0001f, 1.0001f, 1.0001f, 1.0001f, 1.0001f, 1.0001f, 1.0001f, 1.0001f};
    v8f y = {1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f, 1e-7f};
    for (int k = 0; k < 8; k++) acc[k] = y * (float)(k + omp_get_thread_num());
    for (long r = 0; r < reps; r++)
      for (int k = 0; k < 8; k++) acc[k] = acc[k] * x + y;
    for (int k = 0; k < 8; k++) sink += acc[k][0];
  }
  double dt = now() - t0;
  if (sink == 42) puts("");
  return (double)reps * 8 * 8 * omp_get_max_threads() / dt;
}

int main(int argc, char **argv) {
  long scale = argc > 1 ? atol(argv[1]) : 1;
  double best[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  for (int trial = 0; trial < 3; trial++) {
    double v[8] = {popcount_peak(20000000 * scale), popcount_avx2_peak(20000000 * scale),
                   int16_peak(20000000 * scale), fp32_peak(20000000 * scale), vpopcntq_peak(20000000 * scale),
                   vnni_peak(20000000 * scale), ubsw_peak(20000000 * scale), amx_peak(2000000 * scale)};
    for (int i = 0; i < 8; i++)
      if (v[i] > best[i]) best[i] = v[i];
  }
  printf("%.6g %.6g %.6g %.6g %.6g %.6g %.6g %.6g %d\n", best[0], best[1], best[2], best[3], best[4], best[5], best[6],
         best[7], omp_get_max_threads());
  return 0;
}
