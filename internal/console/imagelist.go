package console

import (
	"cmp"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/hangarvm/hangar/internal/hangar"
)

// The image list is paged (Options.PageSize, 100 rows by default): a tenant with
// 1,000 images would otherwise get a page of 1,000 rows (378 KB, most of the
// render time). Filtering and sorting then
// cannot be the browser's alone, since it sees one page: they are URL query
// parameters applied here, over the whole list the API returns, before the page
// is cut. They are presentation (which rows, in which order), not rules: what the
// tenant may see is still exactly the API's list.
// maxSuggestions bounds the wizard's image suggestions for one typed text.
const maxSuggestions = 20

// imageColumns are the image table's columns, in order: the sort key of each
// (the value of ?sort=) and its header.
var imageColumns = []struct{ Key, Title string }{
	{"name", "Name"}, {"source", "Source"}, {"owner", "Owner"}, {"type", "Type"}, {"os", "OS"},
	{"gen", "Gen"}, {"latest", "Latest"}, {"versions", "Versions"}, {"reference", "Reference"},
}

// listQuery is what the image list's URL asks: everything usable or the tenant's
// own, a filter, a sort column and direction, a page (from 1).
type listQuery struct {
	All  bool
	Q    string
	Tags []string // the API's tag filter (?tag=KEY or KEY=VALUE, repeatable)
	Sort string
	Desc bool
	Page int
}

// parseListQuery reads the image list's query. What it does not understand
// falls back to the default (name, ascending, page 1) rather than failing: these
// are links a person may have edited.
func parseListQuery(v url.Values) listQuery {
	q := listQuery{All: v.Get("all") != "", Q: strings.TrimSpace(v.Get("q")), Sort: "name", Page: 1}
	for _, t := range v["tag"] {
		if t = strings.TrimSpace(t); t != "" {
			q.Tags = append(q.Tags, t)
		}
	}
	if s := v.Get("sort"); slices.ContainsFunc(imageColumns, func(c struct{ Key, Title string }) bool { return c.Key == s }) {
		q.Sort = s
	}
	q.Desc = v.Get("order") == "desc"
	if p, err := strconv.Atoi(v.Get("page")); err == nil && p > 0 {
		q.Page = p
	}
	return q
}

// url is the image list's URL for q, with only what differs from the defaults.
func (q listQuery) url() string {
	v := url.Values{}
	if q.All {
		v.Set("all", "1")
	}
	if q.Q != "" {
		v.Set("q", q.Q)
	}
	for _, t := range q.Tags {
		v.Add("tag", t)
	}
	if q.Sort != "name" {
		v.Set("sort", q.Sort)
	}
	if q.Desc {
		v.Set("order", "desc")
	}
	if q.Page > 1 {
		v.Set("page", strconv.Itoa(q.Page))
	}
	if len(v) == 0 {
		return Prefix + "images"
	}
	return Prefix + "images?" + v.Encode()
}

// matches says whether an image's row shows text (case-insensitive), as the
// page's own filter script compares a row's text.
func matches(im hangar.ImageSummary, text string) bool {
	if text == "" {
		return true
	}
	text = strings.ToLower(text)
	for _, f := range []string{im.Name, im.Source, im.Owner, string(im.Type), string(im.OSType), string(im.OSState),
		im.HyperVGeneration, im.LatestVersion, im.Reference} {
		if strings.Contains(strings.ToLower(f), text) {
			return true
		}
	}
	return false
}

// compareBy orders two images by a column; equal rows by reference, so that
// pages never overlap.
func compareBy(col string) func(a, b hangar.ImageSummary) int {
	key := func(a, b hangar.ImageSummary) int {
		switch col {
		case "source":
			return strings.Compare(a.Source, b.Source)
		case "owner":
			return strings.Compare(a.Owner, b.Owner)
		case "type":
			return strings.Compare(string(a.Type), string(b.Type))
		case "os":
			return cmp.Or(strings.Compare(string(a.OSType), string(b.OSType)), strings.Compare(string(a.OSState), string(b.OSState)))
		case "gen":
			return strings.Compare(a.HyperVGeneration, b.HyperVGeneration)
		case "latest":
			return compareVersions(a.LatestVersion, b.LatestVersion)
		case "versions":
			return cmp.Compare(a.Versions, b.Versions)
		case "reference":
			return 0
		}
		return strings.Compare(a.Name, b.Name)
	}
	return func(a, b hangar.ImageSummary) int {
		return cmp.Or(key(a, b), strings.Compare(a.Reference, b.Reference))
	}
}

// compareVersions orders versions numerically; none ("") comes first.
func compareVersions(a, b string) int {
	va, ea := hangar.ParseVersion(a)
	vb, eb := hangar.ParseVersion(b)
	switch {
	case ea != nil || eb != nil:
		return cmp.Compare(a, b)
	default:
		return va.Compare(vb)
	}
}

// imagesView is the data of the image list: one page of the filtered, sorted list.
type imagesView struct {
	Query       listQuery
	Images      []hangar.ImageSummary // this page's
	Total       int                   // images the tenant may list
	Matching    int                   // of those, the ones the filter keeps
	First, Last int                   // this page's rows, from 1 (0, 0 when none)
	Pages       int
	PrevURL     string
	NextURL     string
	FirstURL    string
	LastURL     string
	ClearURL    string // the same list without the filter
	Columns     []columnView
	TagError    string // the API's refusal of the tag filter
}

// columnView is a column header: the link that sorts by it, and how it sorts now.
type columnView struct {
	Title string
	URL   string
	Sort  string // "ascending", "descending" or ""
}

// pageOfImages filters, sorts and cuts one page of list for q.
func pageOfImages(list []hangar.ImageSummary, q listQuery, perPage int) imagesView {
	v := imagesView{Query: q, Total: len(list)}
	kept := make([]hangar.ImageSummary, 0, len(list))
	for _, im := range list {
		if matches(im, q.Q) {
			kept = append(kept, im)
		}
	}
	by := compareBy(q.Sort)
	slices.SortStableFunc(kept, func(a, b hangar.ImageSummary) int {
		if q.Desc {
			return by(b, a)
		}
		return by(a, b)
	})
	v.Matching = len(kept)
	v.Pages = max(1, (len(kept)+perPage-1)/perPage)
	if start := (q.Page - 1) * perPage; start < len(kept) {
		v.Images = kept[start:min(start+perPage, len(kept))]
		v.First, v.Last = start+1, start+len(v.Images)
	}
	at := func(p int) string { o := q; o.Page = p; return o.url() }
	if q.Page > 1 {
		v.PrevURL, v.FirstURL = at(min(q.Page-1, v.Pages)), at(1)
	}
	if q.Page < v.Pages {
		v.NextURL = at(q.Page + 1)
	}
	if q.Page != v.Pages {
		v.LastURL = at(v.Pages)
	}
	clear := q
	clear.Q, clear.Tags, clear.Page = "", nil, 1
	v.ClearURL = clear.url()
	for _, c := range imageColumns {
		o := q
		o.Page, o.Sort, o.Desc = 1, c.Key, false
		col := columnView{Title: c.Title}
		if q.Sort == c.Key {
			col.Sort = "ascending"
			if q.Desc {
				col.Sort = "descending"
			} else {
				o.Desc = true // a second click reverses, as the script's sort did
			}
		}
		col.URL = o.url()
		v.Columns = append(v.Columns, col)
	}
	return v
}

func (h *Handler) images(c *call) error {
	q := parseListQuery(c.r.URL.Query())
	if slices.Contains(c.r.URL.Query()["tag"], "") {
		// The filter form's tag field, left empty: the list's own URL without it.
		http.Redirect(c.w, c.r, q.url(), http.StatusSeeOther)
		return nil
	}
	list, err := c.api.ListImages(c.ctx, q.All, q.Tags...)
	tagErr := ""
	if err != nil {
		// A tag filter the API refuses is shown with its message, on an empty list.
		if len(q.Tags) == 0 || hangar.ErrorCode(err) != hangar.CodeInvalid {
			return err
		}
		tagErr, list = message(err), nil
	}
	title := "My images"
	if q.All {
		title = "All images I may use"
	}
	if q.Page > 1 {
		title += " · page " + strconv.Itoa(q.Page)
	}
	v := pageOfImages(list, q, h.perPage)
	if tagErr != "" {
		v.TagError = tagErr
		return c.renderStatus(http.StatusBadRequest, "images", title, "images", v)
	}
	return c.render("images", title, "images", v)
}

// suggestion is one image the VM wizard offers for what is typed.
type suggestion struct {
	Reference string `json:"reference"`
	Label     string `json:"label"`
}

// imageSuggestions is the wizard's image suggestions as JSON: up to
// maxSuggestions usable images with a latest version whose row shows ?q=, by
// reference. The wizard fetches them as one types instead of carrying every
// usable image in its page.
func (h *Handler) imageSuggestions(c *call) error {
	list, err := c.api.ListImages(c.ctx, true)
	if err != nil {
		return err
	}
	text := strings.TrimSpace(c.r.URL.Query().Get("q"))
	kept := list[:0]
	for _, im := range list {
		if im.LatestVersion != "" && matches(im, text) {
			kept = append(kept, im)
		}
	}
	slices.SortFunc(kept, compareBy("reference"))
	out := []suggestion{}
	for _, im := range kept[:min(len(kept), maxSuggestions)] {
		out = append(out, suggestion{Reference: im.Reference, Label: im.Source + " · " + string(im.OSType) + " · " + string(im.OSState)})
	}
	c.w.Header().Set("Content-Type", "application/json")
	c.w.Header().Set("Cache-Control", "no-store")
	return json.NewEncoder(c.w).Encode(out)
}

// imageListRoutes are the routes of the image list and the wizard's suggestions.
func (h *Handler) imageListRoutes(m *http.ServeMux) {
	m.HandleFunc("GET "+Prefix+"images", h.page(h.images))
	m.HandleFunc("GET "+Prefix+"images.json", h.page(h.imageSuggestions))
}
