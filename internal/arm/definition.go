package arm

import (
	"sort"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"

	"github.com/hangarvm/hangar/internal/hangar"
)

// An image definition's recommended, features and disallowed are Hangar's image
// requirements (hangar.ImageRequirements): given to the image when its first
// version is made, and shown from the image once it exists.

// requirements reads a definition's fields as Hangar's.
func requirements(p *armcompute.GalleryImageProperties) hangar.ImageRequirements {
	var q hangar.ImageRequirements
	if r := p.Recommended; r != nil {
		rec := &hangar.Recommended{VCPUs: hangarRange(r.VCPUs), MemoryGB: hangarRange(r.Memory)}
		if rec.VCPUs != nil || rec.MemoryGB != nil {
			q.Recommended = rec
		}
	}
	for _, f := range p.Features {
		if f == nil || f.Name == nil {
			continue
		}
		if q.Features == nil {
			q.Features = hangar.Features{}
		}
		q.Features[*f.Name] = str(f.Value)
	}
	if d := p.Disallowed; d != nil {
		q.Disallowed = &hangar.Disallowed{}
		for _, t := range d.DiskTypes {
			if t != nil {
				q.Disallowed.DiskTypes = append(q.Disallowed.DiskTypes, *t)
			}
		}
	}
	return q
}

func hangarRange(r *armcompute.ResourceRange) *hangar.Range {
	if r == nil || r.Min == nil && r.Max == nil {
		return nil
	}
	out := &hangar.Range{}
	if r.Min != nil {
		out.Min = int(*r.Min)
	}
	if r.Max != nil {
		out.Max = int(*r.Max)
	}
	return out
}

// setRequirements writes Hangar's requirements into a definition's properties.
func setRequirements(p *armcompute.GalleryImageProperties, q hangar.ImageRequirements) {
	p.Recommended, p.Features, p.Disallowed = nil, nil, nil
	if r := q.Recommended; r != nil {
		p.Recommended = &armcompute.RecommendedMachineConfiguration{VCPUs: armRange(r.VCPUs), Memory: armRange(r.MemoryGB)}
	}
	names := make([]string, 0, len(q.Features))
	for k := range q.Features {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		p.Features = append(p.Features, &armcompute.GalleryImageFeature{Name: to.Ptr(k), Value: to.Ptr(q.Features[k])})
	}
	if d := q.Disallowed; d != nil {
		p.Disallowed = &armcompute.Disallowed{DiskTypes: to.SliceOfPtrs(d.DiskTypes...)}
	}
}

func armRange(r *hangar.Range) *armcompute.ResourceRange {
	if r == nil {
		return nil
	}
	out := &armcompute.ResourceRange{}
	if r.Min != 0 {
		out.Min = to.Ptr(int32(r.Min))
	}
	if r.Max != 0 {
		out.Max = to.Ptr(int32(r.Max))
	}
	return out
}

// checkRequirements checks a definition's fields as Hangar checks an image's, so
// that a definition its first version could not be made of is refused when it is
// written.
func checkRequirements(p *armcompute.GalleryImageProperties) error {
	gen := "V1"
	if p.HyperVGeneration != nil {
		gen = string(*p.HyperVGeneration)
	}
	q := requirements(p)
	if err := q.Normalize(gen); err != nil {
		return invalid("%s", hangar.ErrorMessage(err))
	}
	return nil
}
