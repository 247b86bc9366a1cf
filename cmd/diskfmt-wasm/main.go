//go:build js && wasm

// Command diskfmt-wasm is package diskfmt built for WebAssembly, for the web
// console's browser upload (internal/console/static/disk-worker.js runs it in a Web
// Worker): the browser parses qcow2, VHDX, VMDK and VHD files with the very code
// the CLI uses, and uploads the chunks uploadplan lists, as the CLI does.
//
// It sets one global function, hangarDiskfmt.open(file) (file a Blob or File),
// which returns a Promise of a disk:
//
//	{plan: the uploadplan.Plan as JSON, readAt(offset, length) → Promise of a Uint8Array, close()}
//
// or rejects with diskfmt's error message. A JS function must not block (Go's
// js/wasm runtime runs it on the event loop), so each call starts a goroutine and
// answers with a Promise; the goroutine waits for the File's bytes
// (Blob.slice().arrayBuffer()) while the event loop goes on.
//
// Build it with scripts/build-wasm.sh (make build does).
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"syscall/js"

	"github.com/hangarvm/hangar/internal/diskfmt"
	"github.com/hangarvm/hangar/internal/readcache"
	"github.com/hangarvm/hangar/internal/uploadplan"
)

func main() {
	open := js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) != 1 {
			return reject(errors.New("open takes one File"))
		}
		file := args[0]
		return promise(func() (any, error) { return openDisk(file) })
	})
	js.Global().Set("hangarDiskfmt", map[string]any{"open": open})
	// The functions above are called from JS for as long as the worker lives.
	select {}
}

// openDisk opens the File as a disk and returns its JS face.
func openDisk(file js.Value) (any, error) {
	size := int64(file.Get("size").Float())
	r := readcache.New(func(off, end int64) ([]byte, error) { return readBlob(file, off, end) }, size, blockSize, keepBlocks)
	d, err := diskfmt.Open(r, size, diskfmt.Options{})
	if err != nil {
		return nil, err
	}
	plan, err := json.Marshal(uploadplan.Of(d))
	if err != nil {
		return nil, err
	}
	var readAt, closeFn js.Func
	readAt = js.FuncOf(func(_ js.Value, args []js.Value) any {
		if len(args) != 2 {
			return reject(errors.New("readAt takes an offset and a length"))
		}
		off, n := int64(args[0].Float()), int64(args[1].Float())
		return promise(func() (any, error) { return read(d, off, n) })
	})
	closeFn = js.FuncOf(func(js.Value, []js.Value) any {
		readAt.Release()
		closeFn.Release()
		return nil
	})
	return map[string]any{"plan": string(plan), "readAt": readAt, "close": closeFn}, nil
}

// maxRead bounds one readAt: a chunk is 4 MiB.
const maxRead = 16 << 20

// read returns n bytes of the virtual disk at off as a Uint8Array.
func read(d diskfmt.Disk, off, n int64) (any, error) {
	if off < 0 || n < 0 || n > maxRead || off > d.VirtualSize()-n {
		return nil, fmt.Errorf("readAt(%d, %d) is outside the disk's %d bytes", off, n, d.VirtualSize())
	}
	buf := make([]byte, n)
	if got, err := d.ReadAt(buf, off); int64(got) < n {
		return nil, fmt.Errorf("read at offset %d: %w", off+int64(got), err)
	}
	u := js.Global().Get("Uint8Array").New(len(buf))
	js.CopyBytesToJS(u, buf)
	return u, nil
}

// The File is read in blocks of blockSize, the last keepBlocks kept (16 MiB a
// worker): in Chromium a Blob read takes milliseconds whatever its size, and diskfmt
// reads qcow2 and VMDK data a cluster (64 KiB) at a time. Measured with
// bench/consoleupload -size-mib 64 -format qcow2 (64 KiB clusters, 2 shared cores):
// 24 MiB/s reading 64 KiB at a time, 40 to 54 MiB/s through 4 MiB blocks.
const (
	blockSize  = 4 << 20
	keepBlocks = 4
)

// readBlob reads the Blob's bytes [off, end).
func readBlob(blob js.Value, off, end int64) ([]byte, error) {
	buf, err := await(blob.Call("slice", off, end).Call("arrayBuffer"))
	if err != nil {
		return nil, fmt.Errorf("read the file at offset %d: %w", off, err)
	}
	p := make([]byte, buf.Get("byteLength").Int())
	js.CopyBytesToGo(p, js.Global().Get("Uint8Array").New(buf))
	return p, nil
}

// await waits for a JS Promise. Only a goroutine other than the one running a JS
// callback may wait: the event loop that settles the Promise runs meanwhile.
func await(p js.Value) (js.Value, error) {
	type result struct {
		v   js.Value
		err error
	}
	ch := make(chan result, 1)
	then := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{v: args[0]}
		return nil
	})
	defer then.Release()
	catch := js.FuncOf(func(_ js.Value, args []js.Value) any {
		ch <- result{err: errors.New(args[0].Call("toString").String())}
		return nil
	})
	defer catch.Release()
	p.Call("then", then, catch)
	r := <-ch
	return r.v, r.err
}

// promise runs f in a goroutine and returns a Promise of its result.
func promise(f func() (any, error)) js.Value {
	executor := js.FuncOf(func(_ js.Value, args []js.Value) any {
		resolve, rej := args[0], args[1]
		go func() {
			v, err := f()
			if err != nil {
				rej.Invoke(js.Global().Get("Error").New(err.Error()))
				return
			}
			resolve.Invoke(v)
		}()
		return nil
	})
	// The Promise constructor calls its executor before it returns.
	defer executor.Release()
	return js.Global().Get("Promise").New(executor)
}

// reject returns a rejected Promise.
func reject(err error) js.Value {
	return js.Global().Get("Promise").Call("reject", js.Global().Get("Error").New(err.Error()))
}
