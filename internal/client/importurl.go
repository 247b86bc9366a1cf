package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/hangarvm/hangar/internal/hangar"
)

// ImportDiskURL asks the server to fetch a disk file from a URL and store it as disk
// name. The server streams its progress (application/x-ndjson), which progress (nil:
// none) is told of line by line; the last line holds the disk or the error. The
// import runs as long as this call: cancelling ctx cancels it, and no disk is left.
func (c *Client) ImportDiskURL(ctx context.Context, name string, req hangar.DiskImport, progress func(hangar.DiskImportProgress)) (hangar.Disk, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return hangar.Disk{}, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/disks/"+esc(name)+"/import", bytes.NewReader(body))
	if err != nil {
		return hangar.Disk{}, err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", "application/x-ndjson")
	if c.key != "" {
		hr.Header.Set("Authorization", "Bearer "+c.key)
	}
	resp, err := c.http.Do(hr)
	if err != nil {
		return hangar.Disk{}, fmt.Errorf("cannot reach the Hangar server at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return hangar.Disk{}, decodeError(resp)
	}
	if resp.StatusCode == http.StatusCreated { // a server that does not stream
		var dk hangar.Disk
		return dk, json.NewDecoder(resp.Body).Decode(&dk)
	}
	return readImportEvents(bufio.NewReader(resp.Body), progress)
}

// maxEventLine bounds one line of the progress stream.
const maxEventLine = 1 << 20

// readImportEvents reads progress lines until the one with the disk or the error.
func readImportEvents(r *bufio.Reader, progress func(hangar.DiskImportProgress)) (hangar.Disk, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxEventLine)
	for sc.Scan() {
		var ev hangar.DiskImportEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			return hangar.Disk{}, fmt.Errorf("the server's import progress is not JSON lines: %v", err)
		}
		switch {
		case ev.Error != nil:
			if ev.Error.Code == "" {
				ev.Error.Code = hangar.CodeInternal
			}
			return hangar.Disk{}, ev.Error
		case ev.Disk != nil:
			return *ev.Disk, nil
		case ev.Progress != nil && progress != nil:
			progress(*ev.Progress)
		}
	}
	if err := sc.Err(); err != nil {
		return hangar.Disk{}, fmt.Errorf("the import's progress stream broke: %w; see hangar disk list for whether the disk arrived", err)
	}
	return hangar.Disk{}, fmt.Errorf("the import's progress stream ended without a result; see hangar disk list for whether the disk arrived")
}
