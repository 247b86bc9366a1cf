package console

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/hangarvm/hangar/internal/api/apitest"

	"github.com/hangarvm/hangar/internal/hangar"
)

// imageRows are the names of the image table's rows, in order.
var imageRow = regexp.MustCompile(`<tr>\s*<td><a href="/console/images/[^"]+">([^<]+)</a>`)

func rowsOf(body string) []string {
	var names []string
	for _, m := range imageRow.FindAllStringSubmatch(body, -1) {
		names = append(names, m[1])
	}
	return names
}

// TestImageListPages pages, filters and sorts the image list on the server, over
// every image, through the URL.
func TestImageListPages(t *testing.T) {
	s := newStackOf(t, false, apitest.Options{}, Options{PageSize: 2})
	s.upload(t, "alice", "d")
	for _, name := range []string{"echo", "charlie", "alpha", "delta", "bravo"} {
		s.image(t, "alice", hangar.ImageCreate{Name: name, OSDisk: "d"})
	}
	s.image(t, "alice", hangar.ImageCreate{Name: "charlie", OSDisk: "d", Version: "1.10.0"})
	s.image(t, "alice", hangar.ImageCreate{Name: "delta", OSDisk: "d", Version: "1.9.0"})
	alice := s.browser(t)
	alice.signIn("alice")

	cases := []struct {
		path  string
		rows  []string
		texts []string // in the page, escaped as HTML
	}{
		{"/console/images", []string{"alpha", "bravo"}, []string{"Page 1 of 3", `href="/console/images?page=2" rel="next"`,
			`href="/console/images?page=3">Last`, `aria-sort="ascending"><a href="/console/images?order=desc"`}},
		{"/console/images?page=2", []string{"charlie", "delta"}, []string{"Page 2 of 3", "images 3–4 of 5",
			`href="/console/images" rel="prev"`, `href="/console/images?page=3" rel="next"`}},
		{"/console/images?page=3", []string{"echo"}, []string{"Page 3 of 3", "images 5–5 of 5"}},
		// The filter keeps rows over the whole list, not only the first page's.
		{"/console/images?q=HA", []string{"alpha", "charlie"}, []string{"Page 1 of 1", "images 1–2 of 2 matching (of 5)",
			`name="q" value="HA"`, `href="/console/images">Clear`}},
		{"/console/images?q=1.10", []string{"charlie"}, nil},
		{"/console/images?order=desc", []string{"echo", "delta"}, []string{`aria-sort="descending"><a href="/console/images"`}},
		// Versions sort numerically: 1.10.0 after 1.9.0.
		{"/console/images?sort=latest&order=desc", []string{"charlie", "delta"}, nil},
		{"/console/images?sort=latest&page=3", []string{"charlie"}, []string{`href="/console/images?page=2&amp;sort=latest" rel="prev"`}},
		{"/console/images?sort=versions&order=desc&q=ha", []string{"charlie", "alpha"}, []string{
			`<input type="hidden" name="sort" value="versions">`, `<input type="hidden" name="order" value="desc">`}},
		// What the list does not understand falls back to the defaults.
		{"/console/images?page=nope&sort=evil", []string{"alpha", "bravo"}, []string{"Page 1 of 3"}},
	}
	for _, tc := range cases {
		a := alice.get(tc.path)
		if a.status != 200 {
			t.Fatalf("%s: %d\n%s", tc.path, a.status, a.body)
		}
		if got := rowsOf(a.body); !slices.Equal(got, tc.rows) {
			t.Errorf("%s: rows %q, want %q", tc.path, got, tc.rows)
		}
		for _, want := range tc.texts {
			if !strings.Contains(a.body, want) {
				t.Errorf("%s: no %s in\n%s", tc.path, want, a.body)
			}
		}
	}

	// A page past the end shows no rows and a way back, not an error.
	a := alice.get("/console/images?page=9&sort=gen")
	if a.status != 200 || len(rowsOf(a.body)) != 0 || !strings.Contains(a.body, `id="past-end"`) ||
		!strings.Contains(a.body, `href="/console/images?page=3&amp;sort=gen">Go to the last page`) {
		t.Fatalf("past the end: %d\n%s", a.status, a.body)
	}
	a = alice.get("/console/images?q=" + url.QueryEscape("<zulu>"))
	if len(rowsOf(a.body)) != 0 || !strings.Contains(a.body, "No image matches “&lt;zulu&gt;”") {
		t.Fatalf("no match:\n%s", a.body)
	}
}

// TestImageSuggestions: the wizard's page carries no image list; it asks
// images.json for what matches the text typed, at most maxSuggestions.
func TestImageSuggestions(t *testing.T) {
	s := newStack(t, false)
	s.upload(t, "alice", "d")
	for i := range maxSuggestions + 5 {
		s.image(t, "alice", hangar.ImageCreate{Name: fmt.Sprintf("img%02d", i), OSDisk: "d"})
	}
	alice := s.browser(t)
	alice.signIn("alice")
	if a := alice.get("/console/new/vm"); a.status != 200 || strings.Contains(a.body, "<option value=\"img") ||
		!strings.Contains(a.body, `data-suggest="/console/images.json"`) {
		t.Fatalf("the wizard: %d\n%s", a.status, a.body)
	}
	for q, want := range map[string]int{"": maxSuggestions, "img1": 10, "img07": 1, "nothing": 0} {
		a := alice.get("/console/images.json?q=" + url.QueryEscape(q))
		var got []suggestion
		if err := json.Unmarshal([]byte(a.body), &got); err != nil || a.header.Get("Content-Type") != "application/json" {
			t.Fatalf("q=%q: %v %s\n%s", q, err, a.header.Get("Content-Type"), a.body)
		}
		if len(got) != want {
			t.Fatalf("q=%q: %d suggestions, want %d: %+v", q, len(got), want, got)
		}
		if want == 1 && (got[0].Reference != "img07" || got[0].Label != "own · linux · generalized") {
			t.Fatalf("q=%q: %+v", q, got)
		}
	}
}

// The image list shows each image's tags as links to the list filtered by them,
// and passes its tag filter to the API, which applies it; the filter stays in the
// page's links, and one the API refuses shows the API's message.
func TestImageListTags(t *testing.T) {
	s := newStackOf(t, false, apitest.Options{}, Options{PageSize: 1})
	s.upload(t, "alice", "d")
	for _, name := range []string{"web", "db", "cache"} {
		s.image(t, "alice", hangar.ImageCreate{Name: name, OSDisk: "d"})
	}
	for name, tags := range map[string]hangar.Tags{"web": {"env": "prod", "x": "<b>bold</b>"}, "db": {"env": "prod"}, "cache": {"env": "test"}} {
		if err := s.api["alice"].SetTags(t.Context(), "images", name, "", tags, nil); err != nil {
			t.Fatal(err)
		}
	}
	alice := s.browser(t)
	alice.signIn("alice")
	page := alice.get("/console/images?tag=env%3Dprod")
	if page.status != 200 {
		t.Fatalf("tag filter: %d", page.status)
	}
	if got := rowsOf(page.body); !slices.Equal(got, []string{"db"}) {
		t.Errorf("page 1 of env=prod: rows %v, want [db]", got)
	}
	for _, want := range []string{"images 1–1 of 2", `href="/console/images?page=2&amp;tag=env%3Dprod" rel="next"`,
		`<input type="checkbox" name="tag" value="env=prod" checked>`, `<a class="tag" href="/console/images?tag=env=prod">env=prod</a>`} {
		if !strings.Contains(page.body, want) {
			t.Errorf("the env=prod list lacks %s", want)
		}
	}
	page = alice.get("/console/images?tag=env%3Dprod&page=2")
	if got := rowsOf(page.body); !slices.Equal(got, []string{"web"}) {
		t.Errorf("page 2 of env=prod: rows %v, want [web]", got)
	}
	if strings.Contains(page.body, "<b>bold</b>") || !strings.Contains(page.body, "&lt;b&gt;bold&lt;/b&gt;") {
		t.Error("a tag's markup is not shown as text")
	}
	page = alice.get("/console/images?tag=env%3Dprod&tag=env%3Dtest")
	if got := rowsOf(page.body); len(got) != 0 || !strings.Contains(page.body, `id="no-match"`) {
		t.Errorf("two tags no image has both of: rows %v", got)
	}
	// The filter form's empty tag field leads to the list's URL without it.
	if a := alice.get("/console/images?q=we&tag="); a.status != http.StatusSeeOther || a.header.Get("Location") != "/console/images?q=we" {
		t.Errorf("an empty tag term: %d to %q, want 303 to /console/images?q=we", a.status, a.header.Get("Location"))
	}
	page = alice.get("/console/images?tag=%3Dbad")
	if page.status != 400 || !strings.Contains(page.body, `id="tag-filter-error"`) {
		t.Errorf("a tag filter the API refuses: %d, no message", page.status)
	}
}
