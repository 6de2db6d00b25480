/* Peak-throughput micro-kernels for this CPU (tvm-sepnet benchmarks).
 * Each runs on every OpenMP thread over in-L1 data with independent accumulators, so it measures the
 * execution units, not memory. Built by peak.py with: cc -O3 -march=native -fopenmp.
 *   popcount: acc += popcount(a[i] & b[i]) on 64-bit words  -> 64 binary MACs per word
 *   int16 madd: acc(int32) += a(int16) * b(int16), GCC vectorizes it to (v)pmaddwd -> 1 MAC per pair
 *   fp32 fma: 8 independent vector FMA chains                 -> 1 MAC per lane
 *   popcount avx2: vpshufb nibble-table popcount + vpsadbw on 256-bit registers
 * Prints one line: "<scalar popcount bin-MAC/s> <avx2 popcount bin-MAC/s> <int16 MAC/s> <fp32 MAC/s> <threads>". */
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
  double best[4] = {0, 0, 0, 0};
  for (int trial = 0; trial < 3; trial++) {
    double v[4] = {popcount_peak(20000000 * scale), popcount_avx2_peak(20000000 * scale),
                   int16_peak(20000000 * scale), fp32_peak(20000000 * scale)};
    for (int i = 0; i < 4; i++)
      if (v[i] > best[i]) best[i] = v[i];
  }
  printf("%.6g %.6g %.6g %.6g %d\n", best[0], best[1], best[2], best[3], omp_get_max_threads());
  return 0;
}
