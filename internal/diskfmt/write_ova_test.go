package diskfmt

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// ovaMember is one file of an OVA.
type ovaMember struct {
	name string
	data []byte
}

// readOVA lists an OVA's members in order, with their bytes.
func readOVA(t *testing.T, b []byte) []ovaMember {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(b))
	var out []ovaMember
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Format != tar.FormatUSTAR {
			t.Errorf("member %s is in tar format %v, want ustar", h.Name, h.Format)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ovaMember{h.Name, data})
	}
}

// ovfEnvelope is the part of an OVF descriptor the tests check.
type ovfEnvelope struct {
	XMLName    xml.Name `xml:"http://schemas.dmtf.org/ovf/envelope/1 Envelope"`
	References struct {
		Files []struct {
			ID   string `xml:"http://schemas.dmtf.org/ovf/envelope/1 id,attr"`
			Href string `xml:"http://schemas.dmtf.org/ovf/envelope/1 href,attr"`
			Size int64  `xml:"http://schemas.dmtf.org/ovf/envelope/1 size,attr"`
		} `xml:"File"`
	} `xml:"References"`
	DiskSection struct {
		Disks []struct {
			ID       string `xml:"http://schemas.dmtf.org/ovf/envelope/1 diskId,attr"`
			FileRef  string `xml:"http://schemas.dmtf.org/ovf/envelope/1 fileRef,attr"`
			Capacity int64  `xml:"http://schemas.dmtf.org/ovf/envelope/1 capacity,attr"`
			Units    string `xml:"http://schemas.dmtf.org/ovf/envelope/1 capacityAllocationUnits,attr"`
			Format   string `xml:"http://schemas.dmtf.org/ovf/envelope/1 format,attr"`
		} `xml:"Disk"`
	} `xml:"DiskSection"`
	VirtualSystem struct {
		ID    string `xml:"http://schemas.dmtf.org/ovf/envelope/1 id,attr"`
		Items []struct {
			HostResource string `xml:"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData HostResource"`
			ResourceType int    `xml:"http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData ResourceType"`
		} `xml:"VirtualHardwareSection>Item"`
	} `xml:"VirtualSystem"`
}

// checkOVF checks that desc is well-formed XML whose references and disk
// sections point at the VMDK member with its size and the disk's capacity.
func checkOVF(t *testing.T, desc []byte, vmdkName string, vmdkSize, capacity int64) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(desc))
	for { // well-formed throughout, not only where the struct looks
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("ovf descriptor is not well-formed XML: %v", err)
		}
	}
	var env ovfEnvelope
	if err := xml.Unmarshal(desc, &env); err != nil {
		t.Fatalf("ovf descriptor: %v", err)
	}
	files, disks := env.References.Files, env.DiskSection.Disks
	if len(files) != 1 || len(disks) != 1 {
		t.Fatalf("ovf lists %d files and %d disks, want 1 and 1", len(files), len(disks))
	}
	f, d := files[0], disks[0]
	if f.Href != vmdkName || f.Size != vmdkSize {
		t.Errorf("ovf file reference %q of %d bytes, want %q of %d", f.Href, f.Size, vmdkName, vmdkSize)
	}
	if d.FileRef != f.ID || d.Capacity != capacity || d.Units != "byte" || !strings.HasSuffix(d.Format, "#streamOptimized") {
		t.Errorf("ovf disk %+v does not point at file %s with capacity %d bytes, streamOptimized", d, f.ID, capacity)
	}
	attached := false
	for _, it := range env.VirtualSystem.Items {
		attached = attached || it.ResourceType == 17 && it.HostResource == "ovf:/disk/"+d.ID
	}
	if !attached {
		t.Error("no disk drive item of the virtual system uses the disk")
	}
}

func TestWriteOVA(t *testing.T) {
	needQemu(t)
	dir := t.TempDir()
	cases := []struct {
		name, vmName string
		size         int64
		writes       []qemuWrite
	}{
		{"scattered", "web-os", 9<<20 + 512, scattered(9<<20 + 512)},
		{"empty", "", 1 << 20, nil},
		{"odd name", "a<b>&\"c", 2 << 20, []qemuWrite{{4096, 4096, 0x77}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rawPath := filepath.Join(dir, tc.name+".raw")
			makeQemuImage(t, rawPath, "raw", "", tc.size, tc.writes)
			d := openFile(t, rawPath)
			opt := OVAOptions{Name: tc.vmName, WriteOptions: WriteOptions{UniqueID: [16]byte{9}, Timestamp: 1000}}
			var buf bytes.Buffer
			n, err := WriteOVA(&buf, d, opt)
			if err != nil {
				t.Fatal(err)
			}
			if n != int64(buf.Len()) {
				t.Fatalf("WriteOVA returned %d, wrote %d", n, buf.Len())
			}
			ms := readOVA(t, buf.Bytes())
			ovfName, mfName, vmdkName := opt.Files()
			var names []string
			for _, m := range ms {
				names = append(names, m.name)
			}
			if fmt.Sprint(names) != fmt.Sprint([]string{ovfName, mfName, vmdkName}) {
				t.Fatalf("members %v, want the descriptor first, then the manifest, then the disk", names)
			}
			checkOVF(t, ms[0].data, vmdkName, int64(len(ms[2].data)), tc.size)
			for _, i := range []int{0, 2} {
				sum := sha256.Sum256(ms[i].data)
				if line := fmt.Sprintf("SHA256(%s)= %s\n", ms[i].name, hex.EncodeToString(sum[:])); !strings.Contains(string(ms[1].data), line) {
					t.Errorf("manifest %q lacks %q", ms[1].data, line)
				}
			}
			vmdk := filepath.Join(dir, tc.name+".vmdk")
			if err := os.WriteFile(vmdk, ms[2].data, 0o644); err != nil {
				t.Fatal(err)
			}
			run(t, "qemu-img", "check", "-q", "-f", "vmdk", vmdk)
			run(t, "qemu-img", "compare", "-q", "-f", "vmdk", "-F", "raw", vmdk, rawPath)
			var again bytes.Buffer
			if _, err := WriteOVA(&again, d, opt); err != nil || !bytes.Equal(again.Bytes(), buf.Bytes()) {
				t.Errorf("writing twice gave different bytes (%v)", err)
			}
		})
	}
}
