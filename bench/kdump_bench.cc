// kdump_bench DUMP VMCORE: the kdump backend's read rate against its decompression limit
// (docs/performance.md, "kdump backend"). DUMP is a kdump-compressed file; VMCOREINFO is
// MNT/vmcore of `kcorefs mount -o direct_io DUMP MNT` (direct_io: every pass reaches the
// backend, none is served from the page cache).
//  1. direct: this process reads every page the dump holds through libkdumpfile, one
//     thread, 1 MiB requests — what decompression alone allows;
//  2. kcorefs, 1 reader: the whole vmcore, 1 MiB preads;
//  3. kcorefs, 2 readers: each half of the vmcore, in parallel.
// Prints MB/s of each and the ratios the targets name.
#include <fcntl.h>
#include <libkdumpfile/kdumpfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

namespace {

double Seconds(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// Bytes read from libkdumpfile: every run of present pages, in 1 MiB requests.
uint64_t ReadDirect(const char* path) {
  kdump_ctx_t* ctx = kdump_new();
  int fd = open(path, O_RDONLY);
  if (fd < 0 || kdump_open_fd(ctx, fd) != KDUMP_OK) {
    std::fprintf(stderr, "%s: cannot open with libkdumpfile\n", path);
    std::exit(1);
  }
  kdump_attr_t attr;
  kdump_num_t max_pfn = 0;
  if (kdump_get_attr(ctx, "file.pagemap", &attr) != KDUMP_OK ||
      kdump_get_number_attr(ctx, "max_pfn", &max_pfn) != KDUMP_OK) {
    std::fprintf(stderr, "%s: no page bitmap\n", path);
    std::exit(1);
  }
  std::vector<unsigned char> buf(1 << 20);
  uint64_t total = 0;
  kdump_addr_t pfn = 0;
  while (pfn < max_pfn) {
    kdump_addr_t first = pfn, last;
    if (kdump_bmp_find_set(attr.val.bitmap, &first) != KDUMP_OK || first >= max_pfn) break;
    last = first;
    if (kdump_bmp_find_clear(attr.val.bitmap, &last) != KDUMP_OK || last > max_pfn) last = max_pfn;
    for (uint64_t a = first * 4096; a < last * 4096;) {
      size_t len = std::min<uint64_t>(buf.size(), last * 4096 - a);
      if (kdump_read(ctx, KDUMP_MACHPHYSADDR, a, buf.data(), &len) != KDUMP_OK) {
        std::fprintf(stderr, "read at %#llx: %s\n", (unsigned long long)a, kdump_get_err(ctx));
        std::exit(1);
      }
      a += len;
      total += len;
    }
    pfn = last;
  }
  return total;  // the context is not freed: see kcorefs-kdump-backend(7)
}

uint64_t ReadRange(const char* path, uint64_t begin, uint64_t end) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    std::perror(path);
    std::exit(1);
  }
  std::vector<char> buf(1 << 20);
  uint64_t total = 0;
  for (uint64_t off = begin; off < end;) {
    ssize_t n = pread(fd, buf.data(), std::min<uint64_t>(buf.size(), end - off), off);
    if (n <= 0) {
      std::fprintf(stderr, "%s: read at %#llx failed\n", path, (unsigned long long)off);
      std::exit(1);
    }
    off += n;
    total += n;
  }
  close(fd);
  return total;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: kdump_bench DUMP MNT/vmcore (mounted with -o direct_io)\n");
    return 2;
  }
  struct stat st;
  if (stat(argv[2], &st) != 0) {
    std::perror(argv[2]);
    return 1;
  }
  const uint64_t size = st.st_size;
  auto t0 = std::chrono::steady_clock::now();
  uint64_t direct = ReadDirect(argv[1]);
  double direct_s = Seconds(t0);

  t0 = std::chrono::steady_clock::now();
  uint64_t one = ReadRange(argv[2], 0, size);
  double one_s = Seconds(t0);

  uint64_t half = size / 2 / 4096 * 4096, got[2] = {0, 0};
  t0 = std::chrono::steady_clock::now();
  std::thread a([&] { got[0] = ReadRange(argv[2], 0, half); });
  std::thread b([&] { got[1] = ReadRange(argv[2], half, size); });
  a.join();
  b.join();
  double two_s = Seconds(t0);

  double mb = 1e6;
  double r_direct = direct / direct_s / mb, r_one = one / one_s / mb;
  double r_two = (got[0] + got[1]) / two_s / mb;
  std::printf("direct libkdumpfile, 1 thread: %llu bytes in %.2f s = %.1f MB/s\n",
              (unsigned long long)direct, direct_s, r_direct);
  std::printf("kcorefs vmcore, 1 reader:      %llu bytes in %.2f s = %.1f MB/s (%.2fx direct)\n",
              (unsigned long long)one, one_s, r_one, r_one / r_direct);
  std::printf("kcorefs vmcore, 2 readers:     %llu bytes in %.2f s = %.1f MB/s (%.2fx 1 reader)\n",
              (unsigned long long)(got[0] + got[1]), two_s, r_two, r_two / r_one);
  return 0;
}
