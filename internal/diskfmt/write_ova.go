package diskfmt

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"hash"
	"io"
	"strings"
	"text/template"
	"time"
)

// OVAOptions tune WriteOVA.
type OVAOptions struct {
	WriteOptions
	// Name names the virtual system and the files in the archive
	// (NAME.ovf, NAME.mf, NAME-disk1.vmdk); "disk" when empty. Only
	// letters, digits, '.', '_' and '-' are kept.
	Name string
	// CPUs and MemoryMiB size the virtual system; 1 and 1024 when zero.
	CPUs      int
	MemoryMiB int
}

// OVAFiles are the names of the members of the archive WriteOVA writes, in
// their order.
func (o OVAOptions) Files() (ovf, mf, vmdk string) {
	n := ovaName(o.Name)
	return n + ".ovf", n + ".mf", n + "-disk1.vmdk"
}

func ovaName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			return r
		}
		return -1
	}, s)
	if s == "" || len(s) > 80 || s[0] == '.' {
		return "disk"
	}
	return s
}

// WriteOVA writes d as an OVA: a ustar archive holding, in this order as the
// OVF specification (DSP0243, 5.3) wants, an OVF 1.0 descriptor, a manifest
// of SHA-256 digests, and the disk as a streamOptimized VMDK. It returns the
// number of bytes written. A tar member's size comes before its bytes, and
// the descriptor names the VMDK's size, so the VMDK is made twice: once to
// count and hash it, once to write it (compression is deterministic). The
// disk is read twice; nothing is staged.
func WriteOVA(w io.Writer, d Disk, opt OVAOptions) (int64, error) {
	ovfName, mfName, vmdkName := opt.Files()
	vopt := VMDKOptions{WriteOptions: opt.WriteOptions, ExtentName: vmdkName}
	progress := opt.Progress
	vopt.Progress = nil
	h := sha256.New()
	vmdkSize, err := WriteStreamVMDK(h, d, vopt)
	if err != nil {
		return 0, err
	}
	vmdkSum := h.Sum(nil)
	desc, err := OVFDescriptor(d.VirtualSize(), vmdkSize, opt)
	if err != nil {
		return 0, err
	}
	ovfSum := sha256.Sum256(desc)
	mf := fmt.Sprintf("SHA256(%s)= %s\nSHA256(%s)= %s\n", ovfName, hex.EncodeToString(ovfSum[:]), vmdkName, hex.EncodeToString(vmdkSum))

	c := &countingWriter{w: w}
	tw := tar.NewWriter(c)
	mtime := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(opt.Timestamp) * time.Second)
	member := func(name string, size int64) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644,
			ModTime: mtime, Format: tar.FormatUSTAR})
	}
	for _, f := range []struct {
		name string
		data []byte
	}{{ovfName, desc}, {mfName, []byte(mf)}} {
		if err := member(f.name, int64(len(f.data))); err != nil {
			return c.n, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return c.n, err
		}
	}
	if err := member(vmdkName, vmdkSize); err != nil {
		return c.n, err
	}
	vopt.Progress = progress
	check := &hashingWriter{w: tw, h: sha256.New()}
	n, err := WriteStreamVMDK(check, d, vopt)
	if err != nil {
		return c.n, err
	}
	if n != vmdkSize || !bytes.Equal(check.h.Sum(nil), vmdkSum) {
		return c.n, fmt.Errorf("diskfmt: the disk changed while it was exported (vmdk of %d bytes, then %d)", vmdkSize, n)
	}
	if err := tw.Close(); err != nil {
		return c.n, err
	}
	return c.n, c.err
}

type hashingWriter struct {
	w io.Writer
	h hash.Hash
}

func (h *hashingWriter) Write(p []byte) (int, error) {
	h.h.Write(p)
	return h.w.Write(p)
}

// OVFDescriptor renders the OVF 1.0 descriptor of an OVA holding one disk of
// virtualSize bytes whose streamOptimized VMDK is vmdkSize bytes: the
// References, DiskSection and a virtual system with an IDE controller, as
// VMware, VirtualBox and oVirt import.
func OVFDescriptor(virtualSize, vmdkSize int64, opt OVAOptions) ([]byte, error) {
	_, _, vmdkName := opt.Files()
	v := struct {
		Name, File      string
		Capacity, Size  int64
		CPUs, MemoryMiB int
	}{ovaName(opt.Name), vmdkName, virtualSize, vmdkSize, max(opt.CPUs, 1), opt.MemoryMiB}
	if v.MemoryMiB <= 0 {
		v.MemoryMiB = 1024
	}
	var b bytes.Buffer
	if err := ovfTemplate.Execute(&b, v); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

var ovfTemplate = template.Must(template.New("ovf").Funcs(template.FuncMap{"x": func(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}}).Parse(`<?xml version="1.0" encoding="UTF-8"?>
<Envelope vmw:buildId="hangar" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:cim="http://schemas.dmtf.org/wbem/wscim/1/common" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData" xmlns:vmw="http://www.vmware.com/schema/ovf" xmlns:vssd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_VirtualSystemSettingData" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <References>
    <File ovf:href="{{x .File}}" ovf:id="file1" ovf:size="{{.Size}}"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="{{.Capacity}}" ovf:capacityAllocationUnits="byte" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
  <NetworkSection>
    <Info>The list of logical networks</Info>
    <Network ovf:name="VM Network">
      <Description>The VM Network network</Description>
    </Network>
  </NetworkSection>
  <VirtualSystem ovf:id="{{x .Name}}">
    <Info>A virtual machine exported by Hangar</Info>
    <Name>{{x .Name}}</Name>
    <OperatingSystemSection ovf:id="1">
      <Info>The kind of installed guest operating system</Info>
    </OperatingSystemSection>
    <VirtualHardwareSection>
      <Info>Virtual hardware requirements</Info>
      <System>
        <vssd:ElementName>Virtual Hardware Family</vssd:ElementName>
        <vssd:InstanceID>0</vssd:InstanceID>
        <vssd:VirtualSystemIdentifier>{{x .Name}}</vssd:VirtualSystemIdentifier>
        <vssd:VirtualSystemType>vmx-10</vssd:VirtualSystemType>
      </System>
      <Item>
        <rasd:AllocationUnits>hertz * 10^6</rasd:AllocationUnits>
        <rasd:Description>Number of Virtual CPUs</rasd:Description>
        <rasd:ElementName>{{.CPUs}} virtual CPU(s)</rasd:ElementName>
        <rasd:InstanceID>1</rasd:InstanceID>
        <rasd:ResourceType>3</rasd:ResourceType>
        <rasd:VirtualQuantity>{{.CPUs}}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:AllocationUnits>byte * 2^20</rasd:AllocationUnits>
        <rasd:Description>Memory Size</rasd:Description>
        <rasd:ElementName>{{.MemoryMiB}}MB of memory</rasd:ElementName>
        <rasd:InstanceID>2</rasd:InstanceID>
        <rasd:ResourceType>4</rasd:ResourceType>
        <rasd:VirtualQuantity>{{.MemoryMiB}}</rasd:VirtualQuantity>
      </Item>
      <Item>
        <rasd:Address>0</rasd:Address>
        <rasd:Description>IDE Controller</rasd:Description>
        <rasd:ElementName>ideController0</rasd:ElementName>
        <rasd:InstanceID>3</rasd:InstanceID>
        <rasd:ResourceType>5</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:ElementName>disk0</rasd:ElementName>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:InstanceID>4</rasd:InstanceID>
        <rasd:Parent>3</rasd:Parent>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:AutomaticAllocation>true</rasd:AutomaticAllocation>
        <rasd:Connection>VM Network</rasd:Connection>
        <rasd:ElementName>ethernet0</rasd:ElementName>
        <rasd:InstanceID>5</rasd:InstanceID>
        <rasd:ResourceSubType>E1000</rasd:ResourceSubType>
        <rasd:ResourceType>10</rasd:ResourceType>
      </Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>
`))
