package hangar

import (
	"fmt"
	"math/big"
	"slices"
	"strings"
)

// Resources counts, per kind of quota, what a tenant holds (its use) or may hold (its
// limits). As a limit, Unlimited (or any value not above zero) means no limit.
//
// What counts:
//   - StoredBytes is the sum of the tenant's disks' stored bytes: the non-zero bytes
//     each manifest lists, counted once per disk and per offset. Dedup does not
//     lower it, neither between the tenant's disks nor within one: a manifest that
//     lists one chunk at every offset counts every offset, because that is what
//     materializing the disk (a VM's base, generalize, download) writes out. A
//     tenant cannot make the host write more than its quota by repeating a chunk.
//   - TotalVirtualSize adds up the virtual sizes of the tenant's disks and of its
//     VMs' disks (each VM disk is an overlay that may grow to its virtual size).
//   - VMs counts every VM; VCPUs and MemoryMiB add up the sizes of every VM that can
//     still run (all but generalized ones: a stopped or deallocated VM can start
//     again at any time, so it keeps its share).
//   - Uploads counts the uploads started and neither committed, cancelled nor expired.
type Resources struct {
	StoredBytes      int64 `json:"storedBytes"`
	TotalVirtualSize int64 `json:"totalVirtualSize"`
	Disks            int64 `json:"disks"`
	Images           int64 `json:"images"`
	VMs              int64 `json:"vms"`
	VCPUs            int64 `json:"vcpus"`
	MemoryMiB        int64 `json:"memoryMiB"`
	Uploads          int64 `json:"uploads"`
}

// Unlimited is the limit of a quota that has none.
const Unlimited = -1

// Unit says how a quota's values read and are written.
type Unit int

// Units of quotas.
const (
	UnitCount Unit = iota
	UnitBytes
	UnitMiB
)

// Quota describes one kind of quota.
type Quota struct {
	// Name is the quota's key in JSON (Resources' field name, TenantUpdate.Set and
	// Reset) and in the database.
	Name string
	// Flag is the CLI flag's suffix: hangar tenant update --max-FLAG, hangar serve
	// --quota-max-FLAG.
	Flag string
	What string // what is counted, for messages
	Unit Unit
	// Free tells a tenant over this quota how to make room.
	Free  string
	field func(*Resources) *int64
}

// Get returns the quota's value in r.
func (q Quota) Get(r Resources) int64 { return *q.field(&r) }

// Set sets the quota's value in r.
func (q Quota) Set(r *Resources, v int64) { *q.field(r) = v }

// Quotas lists every kind of quota, in the order they are shown.
var Quotas = []Quota{
	{"storedBytes", "stored-bytes", "stored bytes", UnitBytes,
		"delete disks you no longer need (hangar disk list shows what each one stores)",
		func(r *Resources) *int64 { return &r.StoredBytes }},
	{"totalVirtualSize", "total-virtual-size", "total virtual size of disks and VM disks", UnitBytes,
		"delete disks or VMs you no longer need",
		func(r *Resources) *int64 { return &r.TotalVirtualSize }},
	{"disks", "disks", "disks", UnitCount,
		"delete a disk you no longer need (hangar disk delete NAME)",
		func(r *Resources) *int64 { return &r.Disks }},
	{"images", "images", "images", UnitCount,
		"delete an image you no longer need (hangar image delete NAME), or add a version to an existing image",
		func(r *Resources) *int64 { return &r.Images }},
	{"vms", "vms", "VMs", UnitCount,
		"delete a VM you no longer need (hangar vm delete NAME)",
		func(r *Resources) *int64 { return &r.VMs }},
	{"vcpus", "vcpus", "vCPUs", UnitCount,
		"delete a VM you no longer need (hangar vm delete NAME) or choose a smaller --size",
		func(r *Resources) *int64 { return &r.VCPUs }},
	{"memoryMiB", "memory", "memory", UnitMiB,
		"delete a VM you no longer need (hangar vm delete NAME) or choose a smaller --size",
		func(r *Resources) *int64 { return &r.MemoryMiB }},
	{"uploads", "uploads", "uploads in progress", UnitCount,
		"finish an upload in progress (run the same hangar disk upload again: it resumes) or cancel one (DELETE /v1/uploads/ID); garbage collection forgets uploads older than a week",
		func(r *Resources) *int64 { return &r.Uploads }},
}

// QuotaByName returns the quota named name (its JSON name or its flag suffix).
func QuotaByName(name string) (Quota, error) {
	for _, q := range Quotas {
		if q.Name == name || q.Flag == name {
			return q, nil
		}
	}
	names := make([]string, len(Quotas))
	for i, q := range Quotas {
		names[i] = q.Name
	}
	return Quota{}, Errorf(CodeInvalid, "there is no quota %q: use one of %s", name, strings.Join(names, ", "))
}

// Format writes a value of the quota for people: "unlimited", a count, or a size
// in binary units with its exact value.
func (q Quota) Format(v int64) string {
	if v < 0 {
		return "unlimited"
	}
	switch q.Unit {
	case UnitBytes:
		return FormatBytes(v)
	case UnitMiB:
		return FormatBytes(v << 20)
	}
	return fmt.Sprint(v)
}

// formatLimit is Format for a limit, where 0 also means unlimited.
func (q Quota) formatLimit(v int64) string {
	if v <= 0 {
		return "unlimited"
	}
	return q.Format(v)
}

// FormatBytes writes a byte count in binary units ("1.5 GiB"), exact below 1 KiB.
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// NormalizeLimits makes every limit not above zero Unlimited.
func NormalizeLimits(l Resources) Resources {
	for _, q := range Quotas {
		if q.Get(l) <= 0 {
			q.Set(&l, Unlimited)
		}
	}
	return l
}

// CheckQuota refuses a request that would take tenant's use past one of its limits:
// it returns a QuotaExceeded error that names the limit, the use and what the request
// adds, and says how to make room. A request that adds nothing to a quota is never
// refused by it, even when the use is already over a lowered limit.
func CheckQuota(tenant string, limits, use, add Resources) error {
	for _, q := range Quotas {
		lim, u, a := q.Get(limits), q.Get(use), q.Get(add)
		if a <= 0 || lim <= 0 || a <= lim-u {
			continue
		}
		return Errorf(CodeQuotaExceeded,
			"quota exceeded: the limit of %s for tenant %s is %s, and it holds %s; this request would add %s. To go on, %s, or ask an admin to raise the limit (hangar tenant update %s --max-%s ...); hangar tenant show %s shows every limit and its use",
			q.What, tenant, q.formatLimit(lim), q.Format(u), q.Format(a), q.Free, tenant, q.Flag, tenant)
	}
	return nil
}

// ParseLimit reads a limit as the CLI and the serve flags take it: a count for
// counted quotas; for sizes, a number with a unit (10GiB, 512MiB, 1.5TiB; K, M, G, T
// and P are binary too, KB, MB, GB and TB decimal), a plain number being bytes; and
// "unlimited", 0 or -1 for no limit.
func (q Quota) ParseLimit(s string) (int64, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "unlimited", "0", "-1":
		return Unlimited, nil
	}
	if q.Unit == UnitCount {
		var n int64
		if _, err := fmt.Sscan(s, &n); err != nil || fmt.Sprint(n) != s || n <= 0 {
			return 0, Errorf(CodeInvalid, "limit %q of %s: want a positive whole number, or unlimited", s, q.What)
		}
		return n, nil
	}
	n, err := ParseSize(s)
	if err != nil || n <= 0 {
		return 0, Errorf(CodeInvalid, "limit %q of %s: want a size such as 10GiB or 512MiB, or unlimited", s, q.What)
	}
	if q.Unit == UnitMiB {
		if n%(1<<20) != 0 {
			return 0, Errorf(CodeInvalid, "limit %q of %s: want a whole number of MiB, written with its unit (such as 8GiB or 512MiB)", s, q.What)
		}
		return n >> 20, nil
	}
	return n, nil
}

var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "m": 1 << 20, "mib": 1 << 20, "g": 1 << 30, "gib": 1 << 30,
	"t": 1 << 40, "tib": 1 << 40, "p": 1 << 50, "pib": 1 << 50,
	"kb": 1e3, "mb": 1e6, "gb": 1e9, "tb": 1e12, "pb": 1e15,
}

// ParseSize reads a byte size such as 10GiB, 1.5TiB, 512M or 4096.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	if i < 0 {
		i = len(s)
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	mult, ok := sizeUnits[unit]
	if !ok || num == "" {
		return 0, fmt.Errorf("size %q: want a number and a unit such as GiB", s)
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("size %q: %q is not a number", s, num)
	}
	r.Mul(r, new(big.Rat).SetInt64(mult))
	v := new(big.Int).Quo(r.Num(), r.Denom())
	if !v.IsInt64() {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return v.Int64(), nil
}

// TenantDetails is a tenant with its limits and what it uses of them.
type TenantDetails struct {
	Tenant
	// Limits are the limits in force: the tenant's own where an admin set them
	// (named in Custom), else the server's defaults. Unlimited is -1.
	Limits Resources `json:"limits"`
	Usage  Resources `json:"usage"`
	Custom []string  `json:"custom"`
}

// TenantUpdate changes a tenant's limits.
type TenantUpdate struct {
	// Set gives limits by quota name (as in Resources): a positive value is the
	// limit, -1 or 0 means unlimited. Quotas not named stay as they are.
	Set map[string]int64 `json:"set,omitempty"`
	// Reset names the quotas that go back to the server's defaults.
	Reset []string `json:"reset,omitempty"`
}

// Normalize checks the quota names and makes every limit not above zero Unlimited.
func (u *TenantUpdate) Normalize() error {
	set := map[string]int64{}
	for name, v := range u.Set {
		q, err := QuotaByName(name)
		if err != nil {
			return err
		}
		set[q.Name] = max(v, Unlimited)
		if v == 0 {
			set[q.Name] = Unlimited
		}
	}
	u.Set = set
	for i, name := range u.Reset {
		q, err := QuotaByName(name)
		if err != nil {
			return err
		}
		if _, both := set[q.Name]; both {
			return Errorf(CodeInvalid, "quota %s is both set and reset; do one", q.Name)
		}
		u.Reset[i] = q.Name
	}
	slices.Sort(u.Reset)
	u.Reset = slices.Compact(u.Reset)
	if len(u.Set) == 0 && len(u.Reset) == 0 {
		return Errorf(CodeInvalid, "nothing to change: give a limit such as --max-vcpus 8 or --max-stored-bytes 100GiB")
	}
	return nil
}
