package client

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/hangarvm/hangar/internal/atomicfile"
)

// DownloadResult says what DownloadDisk did.
type DownloadResult struct {
	Path    string `json:"path"`
	Format  string `json:"format"`
	Bytes   int64  `json:"bytes"`
	Resumed int64  `json:"resumedFrom"`
}

// DownloadDisk downloads disk name in format to path. The file grows as path+".part"
// and is renamed when complete. Raw and fixed VHD downloads resume: run it again and
// only the missing tail is fetched (the server checks with If-Range that the disk is
// the same one). Runs of zeros become holes in the file.
func (c *Client) DownloadDisk(ctx context.Context, name, format, path string, progress Progress) (DownloadResult, error) {
	res := DownloadResult{Path: path, Format: format}
	part, tagFile := path+".part", path+".part.etag"
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return res, err
	}
	defer f.Close()
	req, err := http.NewRequestWithContext(ctx, "GET", c.base+"/v1/disks/"+esc(name)+"/content?format="+format, nil)
	if err != nil {
		return res, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	have, _ := f.Seek(0, io.SeekEnd)
	if tag, err := os.ReadFile(tagFile); err == nil && have > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(have, 10)+"-")
		req.Header.Set("If-Range", strings.TrimSpace(string(tag)))
	}
	resp, err := c.retrying.Do(req)
	if err != nil {
		return res, fmt.Errorf("cannot reach the Hangar server at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusPartialContent:
		res.Resumed = have
	case http.StatusOK:
		have = 0
		if err := f.Truncate(0); err != nil {
			return res, err
		}
	case http.StatusRequestedRangeNotSatisfiable: // the part file is already whole
		res.Resumed = have
	default:
		return res, decodeError(resp)
	}
	if tag := resp.Header.Get("ETag"); tag != "" {
		os.WriteFile(tagFile, []byte(tag), 0o644)
	}
	if _, err := f.Seek(have, io.SeekStart); err != nil {
		return res, err
	}
	if progress != nil {
		progress.Start(have + max(resp.ContentLength, 0))
		progress.Add(have)
	}
	sw := &sparseFileWriter{f: f, off: have, progress: progress}
	if resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		if _, err := io.Copy(sw, resp.Body); err != nil {
			return res, fmt.Errorf("download interrupted after %d bytes: %w; run the same command again to resume", sw.off, err)
		}
	}
	if err := f.Truncate(sw.off); err != nil {
		return res, err
	}
	if err := f.Sync(); err != nil {
		return res, err
	}
	res.Bytes = sw.off
	if err := atomicfile.Rename(part, path); err != nil {
		return res, err
	}
	os.Remove(tagFile)
	return res, nil
}

// sparseFileWriter writes sequentially to f, seeking over 64 KiB blocks of zeros so
// they stay holes. The caller truncates to the final offset.
type sparseFileWriter struct {
	f        *os.File
	off      int64
	progress Progress
}

func (w *sparseFileWriter) Write(p []byte) (int, error) {
	const block = 64 << 10
	n := 0
	for n < len(p) {
		k := min(len(p)-n, block-int(w.off%block))
		piece := p[n : n+k]
		if k == block && isZero(piece) {
			if _, err := w.f.Seek(int64(k), io.SeekCurrent); err != nil {
				return n, err
			}
		} else if _, err := w.f.Write(piece); err != nil {
			return n, err
		}
		n += k
		w.off += int64(k)
	}
	if w.progress != nil {
		w.progress.Add(int64(len(p)))
	}
	return n, nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
