/*
 * The disk's floor for one durable 48-byte update (the size of a format-v2 log record): pwrite + fdatasync in a loop, no runtime in
 * between. Compiled by bench/run.js into the benchmark directory when a C compiler exists.
 *
 *   fsync-floor <file> <milliseconds> <append|inplace|fallocate> <preallocate-bytes>
 *
 * `inplace` zero-fills <preallocate-bytes> and fdatasyncs them before the clock starts, then
 * overwrites that space record by record (what raft-metadata's log does); `append` writes at the
 * end of an empty file, so every fdatasync must also persist the new file size; `fallocate`
 * reserves the space with fallocate(2) instead of writing zeros (unwritten extents: the first
 * write into each block must convert its extent, a metadata change).
 * Prints one JSON line: {"ops":N,"elapsed_ms":T,"p50_us":A,"p99_us":B,"max_us":C}.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RECORD 48

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: %s file ms append|inplace prealloc-bytes\n", argv[0]);
    return 2;
  }
  const char *path = argv[1];
  double ms = atof(argv[2]);
  int inplace = strcmp(argv[3], "inplace") == 0;
  int falloc = strcmp(argv[3], "fallocate") == 0;
  long prealloc = atol(argv[4]);
  int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) { perror("open"); return 1; }
  if (inplace) {
    char *zeros = calloc(1, 1 << 20);
    for (long done = 0; done < prealloc; done += 1 << 20) {
      long n = prealloc - done < (1 << 20) ? prealloc - done : (1 << 20);
      if (pwrite(fd, zeros, n, done) != n) { perror("pwrite"); return 1; }
    }
    if (fsync(fd) != 0) { perror("fsync"); return 1; }
    free(zeros);
  }
  if (falloc) {
    if (fallocate(fd, 0, 0, prealloc) != 0) { perror("fallocate"); return 1; }
    if (fsync(fd) != 0) { perror("fsync"); return 1; }
    inplace = 1;
  }
  size_t cap = 1 << 16, n = 0;
  double *lat = malloc(cap * sizeof(double));
  unsigned char record[RECORD];
  memset(record, 0xab, sizeof record);
  long pos = 0;
  double start = now_us(), deadline = start + ms * 1000.0, t = start;
  while (t < deadline) {
    memcpy(record, &pos, sizeof pos);
    if (inplace && pos + RECORD > prealloc) pos = 0;
    if (pwrite(fd, record, sizeof record, pos) != (ssize_t)sizeof record) { perror("pwrite"); return 1; }
    if (fdatasync(fd) != 0) { perror("fdatasync"); return 1; }
    pos += RECORD;
    double after = now_us();
    if (n == cap) { cap *= 2; lat = realloc(lat, cap * sizeof(double)); }
    lat[n++] = after - t;
    t = after;
  }
  double elapsed = t - start;
  qsort(lat, n, sizeof(double), cmp);
  size_t i50 = n ? (size_t)(0.5 * n + 0.999999) - 1 : 0, i99 = n ? (size_t)(0.99 * n + 0.999999) - 1 : 0;
  printf("{\"ops\":%zu,\"elapsed_ms\":%.3f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n", n,
         elapsed / 1000.0, n ? lat[i50] : 0, n ? lat[i99] : 0, n ? lat[n - 1] : 0);
  close(fd);
  return 0;
}
