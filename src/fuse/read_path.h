// The reply to a FUSE READ of a view, with at most one copy of the bytes in this process.
//
// A read is planned from the view's pieces (elf::CoreView::ForEachPiece) without reading:
// header bytes are replied from the memory that holds them, gaps from one shared zero
// buffer, data of a source without an fd (or any data when splicing is off) is read into
// a per-thread buffer. With splicing on (replies of 64 KiB and more), data of fd-backed
// sources is spliced into a per-thread pipe and libfuse moves that pipe into the reply
// (fuse_reply_data), so those bytes never pass through this process; a reply that is one
// range of an fd, all of it in the page cache, is given to libfuse as the fd itself,
// which saves the pipe-to-pipe move.
//
// Errors: libfuse cannot turn a source failure half-way through a spliced reply into an
// error: it sends the bytes it got as a short reply, which the kernel takes for the end
// of the file. So every source read happens before the reply starts (a failing source is
// EIO through Filesystem::ReadFailed, never a short reply), except an fd range found
// wholly in the page cache just before, which needs no I/O (docs/performance.md, "Read
// path", has the one window left: pages evicted between the check and the splice).
#ifndef KCOREFS_FUSE_READ_PATH_H_
#define KCOREFS_FUSE_READ_PATH_H_

#include <fuse_lowlevel.h>

#include <cstddef>
#include <cstdint>

#include "kcorefs/elf/core_view.h"

namespace kcorefs::fuse {

class Filesystem;

// Replies to a READ of `size` bytes at `offset` of `view`: the bytes (short only at the
// end of the file) or EIO.
void ReplyRead(fuse_req_t req, Filesystem& fs, const elf::CoreView& view, uint64_t offset,
               size_t size);

}  // namespace kcorefs::fuse

#endif  // KCOREFS_FUSE_READ_PATH_H_
