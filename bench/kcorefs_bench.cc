// The kcorefs benchmark: every figure of docs/performance.md in one run (must run as root:
// it drops the page cache between passes and mounts FUSE file systems).
//
//   kcorefs_bench --kcorefs build-c/src/cli/kcorefs --passthrough build-c/bench/passthrough_ll
//                 --dir /var/tmp/kcorefs-bench [--ram-mib 1024] [--reps 3] ...
//
// What it measures, against the targets of issue 2 ("Performance"):
//  1. header build of a 100,000-segment source through the library (backends::OpenBackend,
//     elf::CoreView::Build), its time and the memory it keeps and peaks at;
//  2. time from starting `kcorefs mount -f` to the first successful stat of MP/vmcore;
//  3. sequential 1 MiB reads of MP/vmcore (kcorefs over a kdump file, -o splice and
//     -o nosplice) against MP/data of bench/passthrough_ll over the same file in its copy,
//     splice, direct_io and direct_io+splice modes, all in one pass that rotates between
//     them every 32 MiB: page cache dropped before each pass and the backing file then read
//     once, so all serve from a warm backing cache while their own FUSE page cache is cold
//     (the "first read"); then the same files again (the re-read); plus fully cold passes;
//  3b. O_DIRECT reads of 8 KiB to 1008 KiB, one FUSE request each: where splicing pays;
//  4. random 4 KiB reads (POSIX_FADV_RANDOM, so every read is one FUSE request) p50/p99,
//     rotating between the same mounts read by read;
//  5. open+close and forced getattr (statx AT_STATX_FORCE_SYNC) on a small, a 100k-segment
//     and a 1 TiB source;
//  6. daemon VmHWM while serving a 1 TiB sparse source under a random + sequential load.
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_set>
#include <vector>

#include "bench/core_gen.h"
#include "kcorefs/backends/backend.h"
#include "kcorefs/elf/core_view.h"

namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "kcorefs_bench: %s\n", msg.c_str());
  std::exit(1);
}

double Since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

double Pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t i = static_cast<size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

double Median(std::vector<double> v) { return Pct(std::move(v), 50); }

// The 1 MiB buffer of the sequential readers, page-aligned: an unaligned one spans 257
// pages, and a direct_io file then splits every 1 MiB read() into two FUSE requests.
char* ReadBuffer() {
  static char* buf = static_cast<char*>(std::aligned_alloc(4096, 1 << 20));
  return buf;
}

struct Options {
  std::string kcorefs = "build-c/src/cli/kcorefs";
  std::string passthrough = "build-c/bench/passthrough_ll";
  std::string dir = "/var/tmp/kcorefs-bench";
  uint64_t ram_mib = 1024;
  uint64_t small_mib = 64;
  uint64_t segments = 100000;
  uint64_t sparse_gib = 1024;
  int reps = 3;
  int header_reps = 5;
  int random_reads = 20000;
  int meta_iters = 20000;
  int rss_seconds = 10;
  bool cold = true;  // also run fully cold sequential passes
  bool header_only = false;
  bool reads_only = false;  // only the sequential and random read sections
  // Extra read contenders, LABEL=kcorefs:OPTS or LABEL=passthrough:ARG,ARG...
  std::vector<std::string> variants;
};

uint64_t FileSize(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) Die(path + ": " + std::strerror(errno));
  return static_cast<uint64_t>(st.st_size);
}

void DropCaches() {
  ::sync();
  int fd = ::open("/proc/sys/vm/drop_caches", O_WRONLY);
  if (fd < 0 || ::write(fd, "3", 1) != 1) Die("cannot drop caches (run as root)");
  ::close(fd);
}

// Reads the whole file with 1 MiB read()s; returns MB/s (10^6 bytes per second).
double ReadSequential(const std::string& path, uint64_t* bytes_out = nullptr) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) Die(path + ": " + std::strerror(errno));
  char* buf = ReadBuffer();
  uint64_t total = 0;
  auto t0 = Clock::now();
  for (;;) {
    ssize_t n = ::read(fd, buf, 1 << 20);
    if (n < 0) Die(path + ": read: " + std::strerror(errno));
    if (n == 0) break;
    total += static_cast<uint64_t>(n);
  }
  double s = Since(t0);
  ::close(fd);
  if (bytes_out) *bytes_out = total;
  return static_cast<double>(total) / s / 1e6;
}

// CPU seconds (user + system) process `pid` has used, its exited threads included.
double ProcessCpu(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  size_t at = text.rfind(')');  // the command name may hold spaces
  std::istringstream rest(at == std::string::npos ? "" : text.substr(at + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i >= 14) ticks += std::strtod(field.c_str(), nullptr);  // utime, stime
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double ThreadCpuSeconds() {
  rusage ru;
  ::getrusage(RUSAGE_THREAD, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e-6;
}

// Per file of a rotating pass: MB/s, and CPU seconds per GB read of its daemon and of
// the reading thread (load elsewhere slows the wall clock far more than it adds CPU).
struct SeqPass {
  std::vector<double> mbs, daemon_cpu, reader_cpu;
};

// Reads the files sequentially with 1 MiB read()s, rotating between them every `chunk`
// bytes (and which one goes first), so that load from elsewhere on the machine hits all
// alike.
SeqPass ReadSequentialRotating(const std::vector<std::string>& paths,
                               const std::vector<pid_t>& daemons, uint64_t chunk = 32 << 20) {
  const size_t k = paths.size();
  std::vector<int> fd(k);
  std::vector<double> daemon0(k);
  for (size_t f = 0; f < k; ++f) {
    fd[f] = ::open(paths[f].c_str(), O_RDONLY | O_CLOEXEC);
    if (fd[f] < 0) Die("cannot open " + paths[f]);
    daemon0[f] = ProcessCpu(daemons[f]);
  }
  char* buf = ReadBuffer();
  std::vector<double> secs(k, 0), cpu(k, 0);
  std::vector<uint64_t> total(k, 0);
  std::vector<bool> eof(k, false);
  for (uint64_t i = 0; std::find(eof.begin(), eof.end(), false) != eof.end(); ++i) {
    for (size_t j = 0; j < k; ++j) {
      size_t f = (i + j) % k;
      if (eof[f]) continue;
      uint64_t got = 0;
      double c0 = ThreadCpuSeconds();
      auto t0 = Clock::now();
      while (got < chunk) {
        ssize_t n = ::read(fd[f], buf, 1 << 20);
        if (n < 0) Die(paths[f] + ": read: " + std::strerror(errno));
        if (n == 0) {
          eof[f] = true;
          break;
        }
        got += static_cast<uint64_t>(n);
      }
      secs[f] += Since(t0);
      cpu[f] += ThreadCpuSeconds() - c0;
      total[f] += got;
    }
  }
  SeqPass out;
  for (size_t f = 0; f < k; ++f) {
    ::close(fd[f]);
    double gb = static_cast<double>(total[f]) / 1e9;
    out.mbs.push_back(static_cast<double>(total[f]) / secs[f] / 1e6);
    out.daemon_cpu.push_back((ProcessCpu(daemons[f]) - daemon0[f]) / gb);
    out.reader_cpu.push_back(cpu[f] / gb);
  }
  return out;
}

// 4 KiB preads at `offsets` on every file, rotating read by read (and which one goes
// first); each is a page-cache miss (POSIX_FADV_RANDOM: no readahead). Latencies in us.
std::vector<std::vector<double>> ReadRandomRotating(const std::vector<std::string>& paths,
                                                    const std::vector<uint64_t>& offsets) {
  const size_t k = paths.size();
  std::vector<int> fd(k);
  for (size_t f = 0; f < k; ++f) {
    fd[f] = ::open(paths[f].c_str(), O_RDONLY | O_CLOEXEC);
    if (fd[f] < 0) Die("cannot open " + paths[f]);
    ::posix_fadvise(fd[f], 0, 0, POSIX_FADV_RANDOM);
  }
  char buf[4096];
  std::vector<std::vector<double>> lat(k);
  for (size_t i = 0; i < offsets.size(); ++i) {
    for (size_t j = 0; j < k; ++j) {
      size_t f = (i + j) % k;
      auto t0 = Clock::now();
      ssize_t n = ::pread(fd[f], buf, sizeof(buf), static_cast<off_t>(offsets[i]));
      double us = Since(t0) * 1e6;
      if (n != static_cast<ssize_t>(sizeof(buf))) Die("short random read of " + paths[f]);
      lat[f].push_back(us);
    }
  }
  for (int f : fd) ::close(f);
  return lat;
}

// The machine's load, printed with every section: the figures are only as quiet as it.
std::string LoadAvg() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return "load average " + a + " " + b + " " + c;
}

// The largest READ a splicing reply carries whole, as src/fuse/mount.cc computes it: a
// pipe may grow past /proc/sys/fs/pipe-max-size only with CAP_SYS_RESOURCE, and libfuse
// needs three pages more than the reply.
unsigned SpliceMaxRead() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return 1 << 20;
  bool grows = ::fcntl(fds[1], F_SETPIPE_SZ, (1 << 20) + 4 * 4096) >= 0;
  ::close(fds[0]);
  ::close(fds[1]);
  if (grows) return 1 << 20;
  std::ifstream f("/proc/sys/fs/pipe-max-size");
  unsigned cap = 0;
  f >> cap;
  return cap < 8 * 4096 ? 1 << 20 : std::min(1u << 20, (cap - 4 * 4096) / 4096 * 4096);
}

long StatusKb(pid_t pid, const char* key) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  size_t klen = std::strlen(key);
  while (std::getline(f, line)) {
    if (line.compare(0, klen, key) == 0 && line.size() > klen && line[klen] == ':') {
      return std::strtol(line.c_str() + klen + 1, nullptr, 10);
    }
  }
  return -1;
}

void ResetHwm(pid_t pid) {
  std::ofstream f("/proc/" + std::to_string(pid) + "/clear_refs");
  f << "5";
}

// A FUSE daemon started in the foreground, unmounted with fusermount3 -u.
class Mount {
 public:
  Mount(std::string name, std::vector<std::string> argv, std::string mp, std::string file,
        const std::string& log)
      : name_(std::move(name)), mp_(std::move(mp)), file_(std::move(file)) {
    ::mkdir(mp_.c_str(), 0755);
    auto t0 = Clock::now();
    pid_ = ::fork();
    if (pid_ < 0) Die("fork");
    if (pid_ == 0) {
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        ::dup2(fd, 1);
        ::dup2(fd, 2);
      }
      std::vector<char*> av;
      for (std::string& a : argv) av.push_back(a.data());
      av.push_back(nullptr);
      ::execv(av[0], av.data());
      _exit(127);
    }
    // Ready when MP/FILE stats: the mount point is an empty directory until then.
    struct stat st;
    while (::stat(path().c_str(), &st) != 0) {
      int status;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        Die(name_ + ": the daemon exited before mounting; see " + log);
      }
      if (Since(t0) > 120) Die(name_ + ": not mounted after 120 s");
      ::usleep(100);
    }
    ready_s_ = Since(t0);
  }
  ~Mount() {
    if (pid_ <= 0) return;
    pid_t p = ::fork();
    if (p == 0) {
      ::execlp("fusermount3", "fusermount3", "-u", mp_.c_str(), nullptr);
      _exit(127);
    }
    ::waitpid(p, nullptr, 0);
    ::waitpid(pid_, nullptr, 0);
  }
  std::string path() const { return mp_ + "/" + file_; }
  pid_t pid() const { return pid_; }
  double ready_s() const { return ready_s_; }
  const std::string& name() const { return name_; }

 private:
  std::string name_, mp_, file_;
  pid_t pid_ = -1;
  double ready_s_ = 0;
};

// This thread's CPU time (user + system, so page faults count) and minor faults.
struct Cpu {
  double s;
  long faults;
};
Cpu ThreadCpu() {
  timespec ts;
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  rusage ru;
  ::getrusage(RUSAGE_THREAD, &ru);
  return {static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9, ru.ru_minflt};
}

struct MemInfo {
  uint64_t heap;  // bytes malloc has handed out (arena + mmapped)
  long rss_kb;
};
MemInfo Mem() {
  struct mallinfo2 mi = ::mallinfo2();
  return {mi.uordblks + mi.hblkhd, StatusKb(::getpid(), "VmRSS")};
}

void HeaderBuild(const Options& o, const std::string& label, const std::string& src) {
  using namespace kcorefs;
  std::vector<double> open_ms, vm_ms, kc_ms, kept_mib, peak_mib, open_cpu, vm_cpu;
  std::vector<double> open_flt, vm_flt;
  size_t phnum = 0;
  for (int rep = 0; rep < o.header_reps; ++rep) {
    ::malloc_trim(0);
    MemInfo before = Mem();
    ResetHwm(::getpid());
    Cpu c0 = ThreadCpu();
    auto t0 = Clock::now();
    auto backend = backends::OpenBackend(src, {});
    if (!backend.ok()) Die(std::string(backend.status().message()));
    auto snap = (*backend)->Current();
    if (!snap.ok()) Die(std::string(snap.status().message()));
    double t_open = Since(t0);
    Cpu c1 = ThreadCpu();
    auto t1 = Clock::now();
    auto vm = elf::CoreView::Build("vmcore", *snap);
    double t_vm = Since(t1);
    Cpu c2 = ThreadCpu();
    open_cpu.push_back((c1.s - c0.s) * 1e3);
    vm_cpu.push_back((c2.s - c1.s) * 1e3);
    open_flt.push_back(static_cast<double>(c1.faults - c0.faults));
    vm_flt.push_back(static_cast<double>(c2.faults - c1.faults));
    if (!vm.ok()) Die(std::string(vm.status().message()));
    auto t2 = Clock::now();
    auto kc = elf::CoreView::Build("kcore", *snap);
    double t_kc = Since(t2);
    if (!kc.ok()) Die(std::string(kc.status().message()));
    MemInfo after = Mem();
    long hwm = StatusKb(::getpid(), "VmHWM");
    const std::string& h = (*vm)->header();
    uint16_t e_phnum;
    std::memcpy(&e_phnum, h.data() + 56, 2);  // Elf64_Ehdr.e_phnum
    phnum = e_phnum;
    if (e_phnum == 0xffff) {  // PN_XNUM: the count is section header 0's sh_info
      uint64_t shoff;
      uint32_t info;
      std::memcpy(&shoff, h.data() + 40, 8);
      std::memcpy(&info, h.data() + shoff + 44, 4);
      phnum = info;
    }
    open_ms.push_back(t_open * 1e3);
    vm_ms.push_back(t_vm * 1e3);
    kc_ms.push_back(t_kc * 1e3);
    kept_mib.push_back(static_cast<double>(after.heap - before.heap) / (1 << 20));
    peak_mib.push_back(static_cast<double>(hwm - before.rss_kb) / 1024);
  }
  std::printf("header_build source=%s vmcore_phdrs=%zu reps=%d\n", label.c_str(), phnum,
              o.header_reps);
  std::printf("  open+snapshot ms: min %.2f median %.2f (first, cold header pages: %.2f)\n",
              *std::min_element(open_ms.begin(), open_ms.end()), Median(open_ms), open_ms[0]);
  std::printf("  open+snapshot CPU ms (user+sys of this thread): min %.2f median %.2f; minor faults "
              "median %.0f\n", *std::min_element(open_cpu.begin(), open_cpu.end()), Median(open_cpu),
              Median(open_flt));
  std::printf("  vmcore view CPU ms: min %.2f median %.2f; minor faults median %.0f\n",
              *std::min_element(vm_cpu.begin(), vm_cpu.end()), Median(vm_cpu), Median(vm_flt));
  std::printf("  vmcore view ms:   min %.2f median %.2f\n",
              *std::min_element(vm_ms.begin(), vm_ms.end()), Median(vm_ms));
  std::printf("  kcore view ms:    min %.2f median %.2f\n",
              *std::min_element(kc_ms.begin(), kc_ms.end()), Median(kc_ms));
  std::printf("  open+snapshot+vmcore ms median %.2f; all three %.2f\n",
              Median(open_ms) + Median(vm_ms), Median(open_ms) + Median(vm_ms) + Median(kc_ms));
  std::printf("  heap kept (snapshot + both views) MiB median %.2f; RSS peak over start MiB "
              "median %.2f\n", Median(kept_mib), Median(peak_mib));
  // The vmcore header alone: its bytes plus its extent table.
  std::fflush(stdout);
}

// Heap kept by the snapshot and by one vmcore view alone, measured separately.
void HeaderMemoryBreakdown(const std::string& src) {
  using namespace kcorefs;
  ::malloc_trim(0);
  MemInfo m0 = Mem();
  ResetHwm(::getpid());
  auto backend = backends::OpenBackend(src, {});
  if (!backend.ok()) Die(std::string(backend.status().message()));
  auto snap = *(*backend)->Current();
  MemInfo m1 = Mem();
  long hwm1 = StatusKb(::getpid(), "VmHWM");
  auto vm = elf::CoreView::Build("vmcore", snap);
  MemInfo m2 = Mem();
  long hwm2 = StatusKb(::getpid(), "VmHWM");
  std::printf("  breakdown: snapshot %.2f MiB (RSS peak +%.2f MiB while parsing), vmcore view "
              "%.2f MiB (header %.2f MiB + %zu extents), RSS peak over start after the vmcore "
              "view %.2f MiB\n",
              static_cast<double>(m1.heap - m0.heap) / (1 << 20),
              static_cast<double>(hwm1 - m0.rss_kb) / 1024,
              static_cast<double>(m2.heap - m1.heap) / (1 << 20),
              static_cast<double>((*vm)->header().size()) / (1 << 20), (*vm)->extents().size(),
              static_cast<double>(hwm2 - m0.rss_kb) / 1024);
  std::fflush(stdout);
}

// One round of `iters` open+close and forced getattr calls on m's file; returns
// {open p50, open p99, getattr p50, getattr p99} in microseconds.
std::vector<double> Meta(const Mount& m, int iters) {
  std::vector<double> open_us, stat_us;
  open_us.reserve(iters);
  stat_us.reserve(iters);
  std::string p = m.path();
  for (int i = 0; i < iters; ++i) {
    auto t0 = Clock::now();
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    double o = Since(t0) * 1e6;
    if (fd < 0) Die(p + ": open: " + std::strerror(errno));
    ::close(fd);
    struct statx sx;
    auto t1 = Clock::now();
    if (::statx(AT_FDCWD, p.c_str(), AT_STATX_FORCE_SYNC, STATX_BASIC_STATS, &sx) != 0) {
      Die(p + ": statx: " + std::strerror(errno));
    }
    double s = Since(t1) * 1e6;
    if (i >= iters / 10) {  // the first tenth warms up
      open_us.push_back(o);
      stat_us.push_back(s);
    }
  }
  return {Pct(open_us, 50), Pct(open_us, 99), Pct(stat_us, 50), Pct(stat_us, 99)};
}

void Generate(const std::string& path, const kcorefs::bench::CoreSpec& spec) {
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    std::printf("reusing %s\n", path.c_str());
    return;
  }
  auto t0 = Clock::now();
  std::string tmp = path + ".tmp";
  std::string err = kcorefs::bench::WriteCore(tmp, spec);
  if (!err.empty()) Die(err);
  if (::rename(tmp.c_str(), path.c_str()) != 0) Die(path + ": rename");
  std::printf("generated %s (%llu bytes) in %.1f s\n", path.c_str(),
              static_cast<unsigned long long>(FileSize(path)), Since(t0));
  std::fflush(stdout);
}

Options Parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) Die("missing value for " + a);
      return argv[++i];
    };
    if (a == "--kcorefs") o.kcorefs = next();
    else if (a == "--passthrough") o.passthrough = next();
    else if (a == "--dir") o.dir = next();
    else if (a == "--ram-mib") o.ram_mib = std::stoull(next());
    else if (a == "--segments") o.segments = std::stoull(next());
    else if (a == "--sparse-gib") o.sparse_gib = std::stoull(next());
    else if (a == "--reps") o.reps = std::stoi(next());
    else if (a == "--header-reps") o.header_reps = std::stoi(next());
    else if (a == "--random-reads") o.random_reads = std::stoi(next());
    else if (a == "--meta-iters") o.meta_iters = std::stoi(next());
    else if (a == "--rss-seconds") o.rss_seconds = std::stoi(next());
    else if (a == "--no-cold") o.cold = false;
    else if (a == "--header-only") o.header_only = true;
    else if (a == "--reads-only") o.reads_only = true;
    else if (a == "--variant") o.variants.push_back(next());
    else {
      std::fprintf(stderr,
                   "usage: kcorefs_bench [--kcorefs BIN] [--passthrough BIN] [--dir DIR] "
                   "[--ram-mib N] [--segments N] [--sparse-gib N] [--reps N] [--header-reps N] "
                   "[--random-reads N] [--meta-iters N] [--rss-seconds N] [--no-cold] [--header-only]\n"
                   "       [--reads-only] [--variant LABEL=kcorefs:OPT,OPT | "
                   "LABEL=passthrough:ARG,ARG]...\n");
      std::exit(2);
    }
  }
  return o;
}

// 0. What a fresh page costs on this machine (the header build touches ~5,000 of them).
void PageFaultCost() {
  constexpr size_t kBytes = 64 << 20;
  Cpu c0 = ThreadCpu();
  auto t0 = Clock::now();
  char* p = static_cast<char*>(::mmap(nullptr, kBytes, PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  for (size_t i = 0; i < kBytes; i += 4096) p[i] = 1;
  double wall = Since(t0);
  Cpu c1 = ThreadCpu();
  ::munmap(p, kBytes);
  std::printf("page_fault: touching %zu fresh 4 KiB pages: %.2f us per page wall, %.2f us CPU, "
              "%ld minor faults\n", kBytes / 4096, wall * 1e6 / (kBytes / 4096),
              (c1.s - c0.s) * 1e6 / (kBytes / 4096), c1.faults - c0.faults);
}

// A read contender: a mount whose file the read sections read.
struct Reader {
  std::string label;
  Mount* mount;
};

// Labels of the built-in contenders, used for the ratios.
constexpr char kKSplice[] = "kcorefs splice";
constexpr char kKCopy[] = "kcorefs copy";
constexpr char kKDioSplice[] = "kcorefs direct_io+splice";
constexpr char kPCopy[] = "passthrough copy";
constexpr char kPSplice[] = "passthrough splice";
constexpr char kPDio[] = "passthrough direct_io";
constexpr char kPDioSplice[] = "passthrough direct_io+splice";

std::vector<std::string> SplitCommas(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == ',') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// Mounts the read contenders over `kdump`. Page-cache passthroughs get the readahead
// window kcorefs sets for itself (4 requests), so the two read paths are compared alike;
// splicing passthroughs the max_read kcorefs uses when splicing (SpliceMaxRead()).
std::vector<Reader> MountReaders(const Options& o, const std::string& kdump,
                                 const std::string& log,
                                 std::vector<std::unique_ptr<Mount>>& mounts) {
  const unsigned cap = SpliceMaxRead();
  const std::string cap_s = std::to_string(cap);
  const std::string ra_copy = std::to_string(4 * (1 << 20) / 1024);
  const std::string ra_splice = std::to_string(4 * cap / 1024);
  std::printf("readers: splicing replies carry at most %u bytes (pipe-max-size and "
              "CAP_SYS_RESOURCE); readahead %s KiB (copy) / %s KiB (splice)\n",
              cap, ra_copy.c_str(), ra_splice.c_str());
  std::vector<std::pair<std::string, std::string>> specs = {
      {kKSplice, "kcorefs:splice"},
      {kKCopy, "kcorefs:nosplice"},
      {kKDioSplice, "kcorefs:splice,direct_io"},
      {kPCopy, "passthrough:--readahead-kb," + ra_copy},
      {kPSplice, "passthrough:--splice,--max-read," + cap_s + ",--readahead-kb," + ra_splice},
      {kPDio, "passthrough:--direct-io"},
      {kPDioSplice, "passthrough:--direct-io,--splice,--max-read," + cap_s},
  };
  for (const std::string& v : o.variants) {
    // The label may hold '=' (readahead=128): the spec starts at "=kcorefs:" or "=passthrough:".
    size_t eq = std::min(v.find("=kcorefs:"), v.find("=passthrough:"));
    if (eq == std::string::npos) Die("--variant wants LABEL=kcorefs:OPTS or LABEL=passthrough:ARGS");
    specs.emplace_back(v.substr(0, eq), v.substr(eq + 1));
  }
  std::vector<Reader> readers;
  for (size_t i = 0; i < specs.size(); ++i) {
    const auto& [label, spec] = specs[i];
    const bool kc = spec.rfind("kcorefs:", 0) == 0;
    if (!kc && spec.rfind("passthrough:", 0) != 0) Die("bad variant " + spec);
    std::vector<std::string> args = SplitCommas(spec.substr(spec.find(':') + 1));
    std::string mp = o.dir + "/mp-read-" + std::to_string(i);
    std::vector<std::string> argv;
    if (kc) {
      argv = {o.kcorefs, "mount", "-f"};
      if (!args.empty()) {
        std::string joined;
        for (const std::string& a : args) joined += (joined.empty() ? "" : ",") + a;
        argv.insert(argv.end(), {"-o", joined});
      }
      argv.insert(argv.end(), {kdump, mp});
    } else {
      argv = {o.passthrough};
      argv.insert(argv.end(), args.begin(), args.end());
      argv.insert(argv.end(), {kdump, mp});
    }
    mounts.push_back(std::make_unique<Mount>(label, argv, mp, kc ? "vmcore" : "data", log));
    readers.push_back({label, mounts.back().get()});
    std::string cmd;
    for (const std::string& a : argv) cmd += (cmd.empty() ? "" : " ") + a;
    std::printf("  %-30s %s\n", label.c_str(), cmd.c_str());
  }
  std::fflush(stdout);
  return readers;
}

// label -> one figure per pass, printed in the order the labels were first added.
class Figures {
 public:
  void Add(const std::string& label, double v) {
    if (!values_.count(label)) order_.push_back(label);
    values_[label].push_back(v);
  }
  const std::vector<double>& operator[](const std::string& label) { return values_[label]; }
  bool Has(const std::string& label) const { return values_.count(label) > 0; }
  void Print(const char* unit) const {
    const bool small = std::string(unit) == "s/GB";
    for (const std::string& k : order_) {
      const std::vector<double>& v = values_.at(k);
      std::printf(small ? "  %-40s median %8.3f  min %8.3f  max %8.3f %s (passes:"
                        : "  %-40s median %8.1f  min %8.1f  max %8.1f %s (passes:",
                  k.c_str(), Median(v), *std::min_element(v.begin(), v.end()),
                  *std::max_element(v.begin(), v.end()), unit);
      for (double x : v) std::printf(small ? " %.3f" : " %.1f", x);
      std::printf(")\n");
    }
  }

 private:
  std::vector<std::string> order_;
  std::map<std::string, std::vector<double>> values_;
};

// Ratio of `a` to `b`: of the medians, and the median of the per-pass ratios.
void PrintRatio(Figures& f, const std::string& what, const std::string& a, const std::string& b,
                const char* target) {
  if (!f.Has(a) || !f.Has(b)) return;
  const std::vector<double>& x = f[a];
  const std::vector<double>& y = f[b];
  std::vector<double> per;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) per.push_back(x[i] / y[i]);
  std::printf("  RATIO %s %s / %s: ratio of medians %.3f, median of per-pass ratios %.3f "
              "(min %.3f max %.3f)%s\n", what.c_str(), a.c_str(), b.c_str(), Median(x) / Median(y),
              Median(per), *std::min_element(per.begin(), per.end()),
              *std::max_element(per.begin(), per.end()), target);
}

void PrintSequentialRatios(Figures& f, const std::string& what) {
  PrintRatio(f, what, kKSplice, kPSplice, " (target >= 0.90)");
  PrintRatio(f, what, kKCopy, kPCopy, "");
  PrintRatio(f, what, kKSplice, kPCopy, "");
  PrintRatio(f, what, kKSplice, kPDio, " (target >= 0.90)");
  PrintRatio(f, what, kKSplice, kPDioSplice, "");
  PrintRatio(f, what, kKSplice, kKCopy, "");
  PrintRatio(f, what, kKDioSplice, kPDioSplice, "");
}

// 3. Sequential 1 MiB reads. First read: page cache dropped, the backing file read once
// (so it is warm), then every mount read in rotating 32 MiB chunks; re-read: the same
// again with every cache warm. Cold: page cache dropped before each whole-file read.
void SequentialSection(const Options& o, const std::string& kdump, const std::vector<Reader>& rs) {
  std::printf("seq_read: %s\n", LoadAvg().c_str());
  std::vector<std::string> paths;
  std::vector<pid_t> pids;
  for (const Reader& r : rs) {
    paths.push_back(r.mount->path());
    pids.push_back(r.mount->pid());
  }
  Figures first, again, cold, backing, first_daemon_cpu, first_reader_cpu;
  for (int rep = 0; rep < o.reps; ++rep) {
    DropCaches();
    backing.Add("backing file, cold, read()", ReadSequential(kdump));
    backing.Add("backing file, warm, read()", ReadSequential(kdump));
    SeqPass a = ReadSequentialRotating(paths, pids);
    SeqPass b = ReadSequentialRotating(paths, pids);
    for (size_t i = 0; i < rs.size(); ++i) {
      first.Add(rs[i].label, a.mbs[i]);
      first_daemon_cpu.Add(rs[i].label, a.daemon_cpu[i]);
      first_reader_cpu.Add(rs[i].label, a.reader_cpu[i]);
      again.Add(rs[i].label, b.mbs[i]);
    }
  }
  for (int rep = 0; o.cold && rep < o.reps; ++rep) {
    for (size_t j = 0; j < rs.size(); ++j) {
      const Reader& r = rs[(j + static_cast<size_t>(rep)) % rs.size()];
      DropCaches();
      cold.Add(r.label, ReadSequential(r.mount->path()));
    }
  }
  std::printf("seq_read: 1 MiB read()s of %llu bytes, %d passes, MB/s; %s\n",
              static_cast<unsigned long long>(FileSize(paths[0])), o.reps, LoadAvg().c_str());
  backing.Print("MB/s");
  std::printf(" first read (FUSE page cache cold, backing file warm):\n");
  first.Print("MB/s");
  PrintSequentialRatios(first, "first read");
  std::printf(" first read, daemon CPU seconds per GB:\n");
  first_daemon_cpu.Print("s/GB");
  std::printf(" first read, reader CPU seconds per GB (its read() calls, in the kernel):\n");
  first_reader_cpu.Print("s/GB");
  std::printf(" re-read (every cache warm):\n");
  again.Print("MB/s");
  if (o.cold) {
    std::printf(" cold (every cache dropped):\n");
    cold.Print("MB/s");
    PrintSequentialRatios(cold, "cold");
  }
  std::fflush(stdout);
}

// 3b. One request per read: O_DIRECT preads (a FUSE file opened O_DIRECT sends each read
// to the daemon at its own offset and size) of growing sizes over a warm backing file,
// rotating between the mounts read by read; median latency per size. Where splicing
// starts to pay (ReadPathOptions::splice_min) comes from here.
void RequestSizeSection(const Options& o, const std::string& kdump, const std::vector<Reader>& rs) {
  std::vector<int> fds;
  for (const Reader& r : rs) {
    fds.push_back(::open(r.mount->path().c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT));
    if (fds.back() < 0) Die(r.mount->path() + ": O_DIRECT open: " + std::strerror(errno));
  }
  DropCaches();
  ReadSequential(kdump);  // warm backing
  std::printf("request_size: O_DIRECT preads, one FUSE request each, warm backing, rotating, "
              "median us (MB/s); %s\n", LoadAvg().c_str());
  for (size_t size : {8192u, 16384u, 32768u, 65536u, 131072u, 262144u, 1032192u}) {
    std::vector<std::vector<double>> lat(rs.size());
    const size_t n = std::max<size_t>(64, (256u << 20) / size);
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = 0; j < rs.size(); ++j) {
        size_t f = (i + j) % rs.size();
        auto t0 = Clock::now();
        ssize_t got = ::pread(fds[f], ReadBuffer(), size, static_cast<off_t>(16384 + i * size));
        lat[f].push_back(Since(t0) * 1e6);
        if (got != static_cast<ssize_t>(size)) Die("short O_DIRECT read of " + rs[f].label);
      }
    }
    std::printf("  %8zu bytes:", size);
    for (size_t f = 0; f < rs.size(); ++f) {
      double us = Median(lat[f]);
      std::printf("  %s %.1f (%.0f)", rs[f].label.c_str(), us, static_cast<double>(size) / us);
    }
    std::printf("\n");
  }
  for (int fd : fds) ::close(fd);
  (void)o;
  std::fflush(stdout);
}

// 4. Random 4 KiB reads at distinct page offsets, the same ones for every mount, rotating.
void RandomSection(const Options& o, const std::string& kdump, const std::vector<Reader>& rs) {
  std::vector<std::string> paths;
  for (const Reader& r : rs) paths.push_back(r.mount->path());
  uint64_t span = FileSize(kdump);
  for (const std::string& p : paths) span = std::min(span, FileSize(p));
  span /= 4096;
  std::mt19937_64 rng(42);
  std::unordered_set<uint64_t> seen;
  std::vector<uint64_t> offsets;
  while (offsets.size() < static_cast<size_t>(o.random_reads)) {
    uint64_t pg = rng() % span;
    if (seen.insert(pg).second) offsets.push_back(pg * 4096);
  }
  Figures p50, p90, p99;
  std::vector<std::vector<double>> pooled(rs.size());
  for (int rep = 0; rep < o.reps; ++rep) {
    DropCaches();
    ReadSequential(kdump);  // warm backing
    std::vector<std::vector<double>> lat = ReadRandomRotating(paths, offsets);
    for (size_t i = 0; i < rs.size(); ++i) {
      p50.Add(rs[i].label, Pct(lat[i], 50));
      p90.Add(rs[i].label, Pct(lat[i], 90));
      p99.Add(rs[i].label, Pct(lat[i], 99));
      pooled[i].insert(pooled[i].end(), lat[i].begin(), lat[i].end());
    }
  }
  std::printf("random_read: 4 KiB preads at %d distinct offsets, POSIX_FADV_RANDOM, warm backing, "
              "rotating read by read, %d passes, us; %s\n", o.random_reads, o.reps, LoadAvg().c_str());
  std::printf(" p50:\n");
  p50.Print("us");
  std::printf(" p90:\n");
  p90.Print("us");
  std::printf(" p99:\n");
  p99.Print("us");
  for (size_t i = 0; i < rs.size(); ++i) {
    std::printf("  pooled %-33s p50 %.1f p99 %.1f us\n", rs[i].label.c_str(), Pct(pooled[i], 50),
                Pct(pooled[i], 99));
  }
  PrintRatio(p50, "p50", kKSplice, kPCopy, " (target <= 1.2)");
  PrintRatio(p50, "p50", kKCopy, kPCopy, " (target <= 1.2)");
  PrintRatio(p50, "p50", kKSplice, kPSplice, "");
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace kcorefs::bench;
  Options o = Parse(argc, argv);
  if (::geteuid() != 0) Die("run as root (drops the page cache, mounts FUSE)");
  ::mkdir(o.dir.c_str(), 0755);
  const std::string kdump = o.dir + "/kdump-" + std::to_string(o.ram_mib) + "M.core";
  const std::string small = o.dir + "/kdump-" + std::to_string(o.small_mib) + "M.core";
  const std::string segs = o.dir + "/segments-" + std::to_string(o.segments) + ".core";
  const std::string sparse = o.dir + "/sparse-" + std::to_string(o.sparse_gib) + "G.core";
  const std::string log = o.dir + "/daemons.log";
  std::printf("kcorefs_bench: %u CPUs, kcorefs %s, passthrough %s, %s\n",
              std::thread::hardware_concurrency(), o.kcorefs.c_str(), o.passthrough.c_str(),
              LoadAvg().c_str());
  Generate(kdump, KdumpSpec(o.ram_mib << 20));
  if (!o.reads_only) {
    Generate(small, KdumpSpec(o.small_mib << 20));
    Generate(segs, SegmentsSpec(o.segments));
    Generate(sparse, SparseSpec(o.sparse_gib << 30));
    PageFaultCost();
    // 1. Header build through the library.
    HeaderBuild(o, "segments", segs);
    HeaderMemoryBreakdown(segs);
    HeaderBuild(o, "small", small);
    HeaderBuild(o, "sparse-1TiB", sparse);
    if (o.header_only) return 0;
  }

  std::vector<std::unique_ptr<Mount>> mounts;
  // 3 and 4. Reads.
  std::vector<Reader> readers = MountReaders(o, kdump, log, mounts);
  SequentialSection(o, kdump, readers);
  // Page-cache mounts only: a direct_io one gives the same figures as its twin.
  std::vector<Reader> cached;
  for (const Reader& r : readers) {
    if (r.label == kKSplice || r.label == kKCopy || r.label == kPSplice || r.label == kPCopy) {
      cached.push_back(r);
    }
  }
  RequestSizeSection(o, kdump, cached);
  RandomSection(o, kdump, readers);
  if (o.reads_only) return 0;

  // 2. Mounts with the default options; time to the first stat of MP/vmcore.
  auto kmount = [&](const std::string& name, const std::string& src) {
    mounts.push_back(std::make_unique<Mount>(
        name, std::vector<std::string>{o.kcorefs, "mount", "-f", src, o.dir + "/mp-" + name},
        o.dir + "/mp-" + name, "vmcore", log));
    std::printf("mount %-22s first stat of vmcore after %.1f ms (process start, parse, 3 views, "
                "mount)\n", name.c_str(), mounts.back()->ready_s() * 1e3);
    std::fflush(stdout);
    return mounts.back().get();
  };
  Mount* k_small = kmount("kcorefs-small", small);
  Mount* k_segs = kmount("kcorefs-segments", segs);
  Mount* k_sparse = kmount("kcorefs-sparse", sparse);
  Mount* k_kdump = kmount("kcorefs-kdump", kdump);
  mounts.push_back(std::make_unique<Mount>(
      "passthrough-kdump", std::vector<std::string>{o.passthrough, kdump, o.dir + "/mp-passthrough"},
      o.dir + "/mp-passthrough", "data", log));
  Mount* p_kdump = mounts.back().get();
  std::printf("mount %-22s first stat of data after %.1f ms\n", p_kdump->name().c_str(),
              p_kdump->ready_s() * 1e3);

  // 5. open and getattr against the source's size.
  // Rounds interleave the mounts so that load from elsewhere on the machine hits them alike.
  std::vector<Mount*> meta_mounts = {k_small, k_segs, k_sparse, k_kdump, p_kdump};
  std::map<Mount*, std::vector<std::vector<double>>> meta;
  for (int rep = 0; rep < o.reps; ++rep) {
    for (Mount* m : meta_mounts) meta[m].push_back(Meta(*m, o.meta_iters));
  }
  std::printf("meta: %d rounds of %d open+close and statx(AT_STATX_FORCE_SYNC) calls, the "
              "first tenth of each round dropped; median over rounds of each round's p50/p99 (us)\n",
              o.reps, o.meta_iters);
  for (Mount* m : meta_mounts) {
    std::vector<double> f[4];
    for (const auto& r : meta[m]) {
      for (int i = 0; i < 4; ++i) f[i].push_back(r[i]);
    }
    std::printf("  %-22s size %15llu: open p50 %6.1f p99 %6.1f | getattr p50 %6.1f p99 %6.1f\n",
                m->name().c_str(), static_cast<unsigned long long>(FileSize(m->path())),
                Median(f[0]), Median(f[1]), Median(f[2]), Median(f[3]));
  }
  std::fflush(stdout);

  // 6. Daemon memory while serving the 1 TiB sparse source under load.
  long rss0 = StatusKb(k_sparse->pid(), "VmRSS");
  ResetHwm(k_sparse->pid());
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bytes{0};
  uint64_t vsize = FileSize(k_sparse->path());
  std::vector<std::thread> load;
  for (int t = 0; t < 4; ++t) {
    load.emplace_back([&, t] {
      int fd = ::open(k_sparse->path().c_str(), O_RDONLY | O_CLOEXEC);
      if (t > 0) ::posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
      std::vector<char> buf(1 << 20);
      std::mt19937_64 r(t);
      uint64_t off = 0;
      while (!stop.load()) {
        uint64_t at = t == 0 ? off : (r() % (vsize >> 20)) << 20;
        ssize_t n = ::pread(fd, buf.data(), buf.size(), static_cast<off_t>(at));
        if (n <= 0) break;
        off += static_cast<uint64_t>(n);
        bytes += static_cast<uint64_t>(n);
      }
      ::close(fd);
    });
  }
  long hwm_mid = 0;
  for (int s = 0; s < o.rss_seconds; ++s) {
    ::sleep(1);
    hwm_mid = std::max(hwm_mid, StatusKb(k_sparse->pid(), "VmRSS"));
  }
  stop = true;
  for (std::thread& t : load) t.join();
  std::printf("rss kcorefs-sparse (%llu-byte vmcore): VmRSS before load %ld KiB, max VmRSS during "
              "%ld KiB, VmHWM %ld KiB (target <= 65536); load 1 sequential + 3 random 1 MiB "
              "readers for %d s, %.0f MB read\n",
              static_cast<unsigned long long>(vsize), rss0, hwm_mid,
              StatusKb(k_sparse->pid(), "VmHWM"), o.rss_seconds,
              static_cast<double>(bytes.load()) / 1e6);
  for (Mount* m : {k_small, k_segs, k_kdump, p_kdump}) {
    std::printf("rss %-22s VmRSS %ld KiB VmHWM %ld KiB (lifetime, HWM reset only for sparse)\n",
                m->name().c_str(), StatusKb(m->pid(), "VmRSS"), StatusKb(m->pid(), "VmHWM"));
  }
  std::fflush(stdout);
  mounts.clear();
  return 0;
}
