package api

import (
	"os"
	"regexp"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestOpenAPIDocumentValidates: docs/openapi.json is a valid OpenAPI 3 document
// (kin-openapi's validator), every operation has a tag the document describes and an
// operationId code generators take, and the enums and typed parameters are there.
func TestOpenAPIDocumentValidates(t *testing.T) {
	data, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(t.Context()); err != nil {
		t.Fatalf("docs/openapi.json: %v", err)
	}
	identifier := regexp.MustCompile(`^[a-z][A-Za-z0-9]*$`)
	seen := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if !identifier.MatchString(op.OperationID) || seen[op.OperationID] {
				t.Errorf("%s %s: operationId %q is not a unique identifier", method, path, op.OperationID)
			}
			seen[op.OperationID] = true
			if path != "/metrics" && (len(op.Tags) != 1 || doc.Tags.Get(op.Tags[0]) == nil) {
				t.Errorf("%s %s: tags %v, not one the document describes", method, path, op.Tags)
			}
		}
	}
	if e := doc.Components.Schemas["Image"].Value.Properties["osType"].Value.Enum; len(e) != 2 {
		t.Errorf("Image.osType enum: %v", e)
	}
	all := doc.Paths.Find("/v1/images").Get.Parameters.GetByInAndName("query", "all")
	if all == nil || !all.Schema.Value.Type.Is("boolean") {
		t.Errorf("?all is not a boolean: %+v", all)
	}
	if len(doc.Servers) == 0 {
		t.Error("no servers")
	}
}
