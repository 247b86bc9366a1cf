// Package hangar holds the words of Hangar's domain: tenants and their roles, disks,
// images of both kinds and their versions, image references, marketplace URNs, and the
// error codes every layer speaks. It does no I/O.
//
// The same types are the JSON wire types of the REST API: the server and the Go client
// (package client) marshal exactly these structs, so the two sides cannot drift apart.
//
// Invariants:
//   - Names (tenants, disks, images, community public names, marketplace parts) are
//     validated here, once, before anything reaches storage.
//   - A Version is Major.Minor.Patch with each part a 32-bit unsigned integer; versions
//     order numerically, never lexically.
//   - Every error a user sees is an *Error with a Code; anything else is reported as an
//     internal error and logged for the operator.
//   - An image's definition fields (ImageRequirements: Azure's recommended vCPUs and
//     memory, features, disallowed disk types) are fixed when the image is made and
//     decide which VMs may be made of it (Fits, Allows); a version's Properties are
//     free-form and decide nothing.
//   - An image or VM is in one ARM resource group: the one it was made in, else
//     DefaultResourceGroup.
package hangar
