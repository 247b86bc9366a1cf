package hangar

import (
	"strings"
	"testing"
)

func TestParseLimit(t *testing.T) {
	stored, _ := QuotaByName("storedBytes")
	memory, _ := QuotaByName("memory")
	vcpus, _ := QuotaByName("vcpus")
	tests := []struct {
		q    Quota
		in   string
		want int64
		bad  bool
	}{
		{stored, "10GiB", 10 << 30, false},
		{stored, "10G", 10 << 30, false},
		{stored, "1.5 TiB", 3 << 39, false},
		{stored, "2TB", 2e12, false},
		{stored, "4096", 4096, false},
		{stored, "unlimited", Unlimited, false},
		{stored, "0", Unlimited, false},
		{stored, "-1", Unlimited, false},
		{stored, "ten", 0, true},
		{stored, "10 parsecs", 0, true},
		{stored, "-5GiB", 0, true},
		{stored, "99999999PiB", 0, true},
		{memory, "8GiB", 8 << 10, false},
		{memory, "512MiB", 512, false},
		{memory, "8192", 0, true}, // 8192 bytes is not whole MiB: the unit was forgotten
		{vcpus, "16", 16, false},
		{vcpus, "1.5", 0, true},
		{vcpus, "16GiB", 0, true},
		{vcpus, "-3", 0, true},
	}
	for _, tt := range tests {
		got, err := tt.q.ParseLimit(tt.in)
		if tt.bad {
			if ErrorCode(err) != CodeInvalid {
				t.Errorf("%s limit %q: %d, %v; want InvalidArgument", tt.q.Name, tt.in, got, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s limit %q = %d, %v; want %d", tt.q.Name, tt.in, got, err, tt.want)
		}
	}
}

func TestCheckQuota(t *testing.T) {
	limits := NormalizeLimits(Resources{StoredBytes: 10 << 30, Disks: 3, VCPUs: 4})
	tests := []struct {
		name     string
		use, add Resources
		want     string // "" when allowed
	}{
		{"within", Resources{Disks: 2}, Resources{Disks: 1}, ""},
		{"over by one", Resources{Disks: 3}, Resources{Disks: 1}, "the limit of disks for tenant t is 3, and it holds 3; this request would add 1"},
		{"bytes shown in units", Resources{StoredBytes: 9 << 30}, Resources{StoredBytes: 2 << 30},
			"the limit of stored bytes for tenant t is 10.0 GiB, and it holds 9.0 GiB; this request would add 2.0 GiB"},
		{"unlimited quotas never refuse", Resources{VMs: 1 << 40}, Resources{VMs: 1}, ""},
		{"adding nothing is allowed over a lowered limit", Resources{Disks: 9, VCPUs: 2}, Resources{VCPUs: 1}, ""},
		{"no overflow near the largest values", Resources{StoredBytes: 1 << 62}, Resources{StoredBytes: 1 << 62}, "stored bytes"},
	}
	for _, tt := range tests {
		err := CheckQuota("t", limits, tt.use, tt.add)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tt.name, err)
		case tt.want != "" && (ErrorCode(err) != CodeQuotaExceeded || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%s: %v; want QuotaExceeded saying %q", tt.name, err, tt.want)
		case tt.want != "" && !strings.Contains(err.Error(), "hangar tenant update t --max-"):
			t.Errorf("%s: the refusal does not say how to raise the limit: %v", tt.name, err)
		}
	}
}

func TestTenantUpdateNormalize(t *testing.T) {
	u := TenantUpdate{Set: map[string]int64{"vcpus": 8, "stored-bytes": 0, "memoryMiB": -7}, Reset: []string{"disks", "vms", "disks"}}
	if err := u.Normalize(); err != nil {
		t.Fatal(err)
	}
	if u.Set["vcpus"] != 8 || u.Set["storedBytes"] != Unlimited || u.Set["memoryMiB"] != Unlimited || strings.Join(u.Reset, ",") != "disks,vms" {
		t.Fatalf("normalized: %+v", u)
	}
	for _, bad := range []TenantUpdate{
		{},
		{Set: map[string]int64{"cpus": 1}},
		{Reset: []string{"everything"}},
		{Set: map[string]int64{"vms": 1}, Reset: []string{"vms"}},
	} {
		if err := bad.Normalize(); ErrorCode(err) != CodeInvalid {
			t.Errorf("%+v: %v; want InvalidArgument", bad, err)
		}
	}
}

// FuzzParseSize: any text gives a size or an error, never a panic, and sizes
// written in bytes read back exactly.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"10GiB", "1.5TiB", "4096", "2TB", ".5K", "1e9", "", "GiB", "1..2M", "99999999999999999999P"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err == nil && n < 0 {
			t.Fatalf("ParseSize(%q) = %d", s, n)
		}
	})
}
