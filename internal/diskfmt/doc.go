// Package diskfmt recognises and reads virtual machine disk images uploaded
// by users (raw, VHD fixed and dynamic, VHDX, qcow2 versions 2 and 3,
// VMDK monolithicSparse and streamOptimized), and writes the images Hangar
// exports (raw, fixed and dynamic VHD, VHDX, qcow2, streamOptimized VMDK,
// and OVA: an OVF descriptor and that VMDK in a tar).
//
// It is written by hand, on the standard library (and, for zstd-compressed
// qcow2 clusters, github.com/klauspost/compress/zstd), because no maintained
// pure-Go library reads these formats the way an image service needs: from
// untrusted bytes, as a virtual disk plus its allocated extents (so that
// sparse images stay sparse), validating every header and table before the
// first read, and refusing what must not be followed (parent paths, external
// files). Shelling out to qemu-img for this would mean probing untrusted
// files with a large C program. The writers are by hand for the same want of
// a library: the Go VHDX and VMDK packages that exist write to a seekable
// file (or wrap qemu-img), while an export is streamed to an HTTP answer,
// deterministic, in one or two reads of the stored disk. What the standard
// library does well is used as is: archive/tar (ustar) for the OVA,
// compress/zlib for VMDK grains, text/template and encoding/xml escaping for
// the OVF descriptor, hash/crc32 (Castagnoli) for VHDX checksums.
//
// # Vocabulary
//
//   - Image, file: the bytes as uploaded, read through an io.ReaderAt and a
//     size. Offsets into it are file offsets.
//   - Format: the container layout of an image (raw, VHD fixed, dynamic or
//     differencing, VHDX, qcow2, VMDK), found by Detect from content only.
//   - Virtual disk: the disk a VM sees, VirtualSize bytes, always a whole
//     number of 512-byte sectors. Offsets into it are virtual offsets.
//   - Extent: a range of the virtual disk that the image stores (allocated).
//     Outside the extents the virtual disk reads as zeros. An extent may
//     contain zeros; zeros may not lie outside the extents.
//   - Footer, dynamic header, BAT (block allocation table), block: the
//     structures of the VHD specification, named as it names them; likewise
//     header, region table, metadata and BAT for VHDX, header, L1/L2
//     tables and clusters for qcow2, header, descriptor, grain directory,
//     grain tables and grains for VMDK.
//   - FormatError: what was wrong, in which structure, at which file offset;
//     it wraps ErrFormat (malformed), ErrUnsupported (recognised, refused) or
//     ErrTooLarge (virtual size above Options.MaxVirtualSize).
//
// # Invariants
//
//   - Open checks every header and table against the file size (and
//     against integer overflow) before it allocates or reads what they
//     describe; a table is read in bounded pieces, so a lying header cannot
//     force a large allocation. A Disk's reads only touch file ranges checked
//     the same way; a table read again at read time is checked again.
//   - Open never follows a path or name found in an image: differencing
//     disks (VHD, VHDX), qcow2 backing and external data files, and VMDK
//     descriptors naming other files or parents are refused with
//     ErrUnsupported, as are encrypted qcow2 images, unknown incompatible
//     features, and a VHDX whose log must be replayed.
//   - Compressed payloads (qcow2 compressed clusters, deflate or zstd;
//     streamOptimized VMDK grains) are located and bounded by Open but
//     decompressed only when read; a bad one makes ReadAt return a
//     *FormatError. Decompression output is bounded by the cluster or grain
//     size, and a zstd frame's window by 4 MiB, whatever the payload claims.
//   - Disk.Extents is sorted, non-overlapping, merged where adjacent, and
//     within [0, VirtualSize).
//   - Disk.ReadAt behaves like os.File.ReadAt over the virtual disk, never
//     reads the file outside the extents, and is safe for concurrent use.
//   - A raw image is a whole number of 512-byte sectors; a VHD's virtual
//     size is its footer's current size, never the CHS geometry.
//   - Writers stream to an io.Writer and are deterministic: they allocate
//     exactly the clusters or blocks holding non-zero data, so the output
//     depends only on the disk's content and WriteOptions, never on how
//     the source was allocated. Exported VHD sizes are exact (never rounded
//     to CHS geometry).
//   - An OVA is a ustar archive of NAME.ovf, NAME.mf (SHA-256 of the other
//     two) and NAME-disk1.vmdk, in that order, as the OVF specification
//     wants the descriptor first; its VMDK is made twice (sized and hashed,
//     then written), since tar and the descriptor state its size first.
//   - Writers read only the source's extents, and raw and fixed VHD writers
//     read them in parallel (a few chunks of 4 MiB in flight) while writing
//     in order; memory stays bounded by those chunks. Writing to a file,
//     they start its writeback to disk as they go (sync_file_range on
//     Linux) so that the caller's fsync is short.
package diskfmt
