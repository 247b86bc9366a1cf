package hangar

import "strings"

// DefaultResourceGroup is the resource group of the images and VMs made without
// one: through Hangar's own API or CLI without -g.
const DefaultResourceGroup = "hangar"

// ValidateResourceGroup checks a resource group name as Azure does: 1 to 90
// letters, digits, '-', '_', '.', '(' and ')', not ending with a period.
func ValidateResourceGroup(group string) error {
	ok := group != "" && len(group) <= 90 && !strings.HasSuffix(group, ".")
	for _, r := range group {
		ok = ok && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.()", r))
	}
	if !ok {
		return Errorf(CodeInvalid, "resource group name %.100q is not valid: use 1 to 90 letters, digits, '-', '_', '.', '(' and ')', not ending with '.'", group)
	}
	return nil
}

// InResourceGroup says whether a resource in group ("": in none, as an image of
// another tenant) is in the group a filter names; "" names every group. Group
// names are case-insensitive.
func InResourceGroup(group, filter string) bool {
	return filter == "" || group != "" && strings.EqualFold(group, filter)
}
