package server

import (
	"strings"
	"testing"
)

// Who may call what under each combination of keys: model control needs
// the admin key when one is set (else the API key, else nothing);
// /model/add takes either key; inference takes either when an API key is
// set, and nothing otherwise; health checks never need one.
func TestAdminKeyGuardsModelControl(t *testing.T) {
	const api, admin = "inference-key", "admin-key"
	load := "/v2/repository/models/" + testModel + "/load"
	unload := "/v2/repository/models/" + testModel + "/unload"
	add := `{"model_id":"` + testModel + `/1"}`
	type call struct {
		method, path, body, key string
		want                    int
	}
	for _, tc := range []struct {
		name  string
		opts  Options
		calls []call
	}{
		{"no keys: open, as Triton's explicit mode", Options{}, []call{
			{"POST", load, "", "", 200},
			{"POST", "/model/add", add, "", 200},
			{"GET", "/v2/models/" + testModel, "", "", 200},
		}},
		{"API key only: it guards model control too", Options{APIKey: api}, []call{
			{"POST", load, "", "", 401},
			{"POST", load, "", "wrong", 401},
			{"POST", load, "", api, 200},
			{"POST", "/model/add", add, api, 200},
			{"GET", "/v2/models/" + testModel, "", "", 401},
			{"GET", "/v2/models/" + testModel, "", api, 200},
			{"GET", "/v2/health/ready", "", "", 200},
		}},
		{"both keys: control needs the admin key", Options{APIKey: api, AdminAPIKey: admin}, []call{
			{"POST", load, "", api, 403},
			{"POST", load, `{"parameters":{"config":"{\"max_batch_size\": 2}"}}`, api, 403},
			{"POST", unload, "", api, 403},
			{"POST", "/model/clear", "", api, 403},
			{"POST", "/model/remove", add, api, 403},
			{"POST", load, "", "", 401},
			{"POST", load, "", admin, 200},
			// inference-sdk adds a repository model with its inference key.
			{"POST", "/model/add", add, api, 200},
			{"POST", "/model/add", add, admin, 200},
			{"POST", "/model/add", add, "wrong", 401},
			{"GET", "/v2/models/" + testModel, "", api, 200},
			{"GET", "/v2/models/" + testModel, "", admin, 200},
			{"GET", "/v2/models/" + testModel, "", "", 401},
			{"POST", unload, "", admin, 200},
		}},
		{"admin key only: inference stays open", Options{AdminAPIKey: admin}, []call{
			{"POST", load, "", "", 401},
			{"POST", load, "", admin, 200},
			{"POST", "/model/add", add, "", 200},
			{"GET", "/v2/models/" + testModel, "", "", 200},
			{"POST", "/model/clear", "", "", 401},
			{"POST", "/model/clear", "", admin, 200},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := testServer(t, tc.opts)
			for _, c := range tc.calls {
				var headers []string
				if c.key != "" {
					headers = append(headers, "Authorization", "Bearer "+c.key)
				}
				if c.body != "" {
					headers = append(headers, "Content-Type", "application/json")
				}
				status, _, body := do(t, s, c.method, c.path, []byte(c.body), headers...)
				if status != c.want {
					t.Errorf("%s %s with key %q: %d %s, want %d", c.method, c.path, c.key, status, body, c.want)
				}
				if status == 403 && !strings.Contains(string(body), "admin key") {
					t.Errorf("403 body %s does not say the admin key is needed", body)
				}
			}
		})
	}
}

func TestClassOf(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		want         routeClass
	}{
		{"POST", "/v2/repository/models/m/load", classControl},
		{"POST", "/v2/repository/models/m/unload", classControl},
		{"POST", "/model/remove", classControl},
		{"POST", "/model/clear", classControl},
		{"POST", "/model/add", classAdd},
		{"POST", "/v2/repository/index", classInference},
		{"GET", "/v2/repository/models/m/load", classInference}, // no such route: 404 after the key check
		{"POST", "/infer/object_detection", classInference},
		{"POST", "/v2/models/m/infer", classInference},
	} {
		if got := classOf(tc.method, tc.path); got != tc.want {
			t.Errorf("classOf(%s %s) = %d, want %d", tc.method, tc.path, got, tc.want)
		}
	}
}

// No spelling of a control route that the router still sends to its
// handler gets through with the inference key: case, trailing slashes,
// repeated slashes, dot segments, percent-encoding.
func TestControlRouteSpellingsNeedTheAdminKey(t *testing.T) {
	s := testServer(t, Options{APIKey: "inference-key", AdminAPIKey: "admin-key"})
	for _, path := range []string{
		"/model/clear", "/model/clear/", "/MODEL/CLEAR", "/Model/Clear/", "//model//clear", "/model/./clear", "/x/../model/clear",
		"/model%2Fclear", "/model/%63lear", "/model/remove/",
		"/v2/repository/models/" + testModel + "/load", "/v2/repository/models/" + testModel + "/load/",
		"/v2/repository/models/" + testModel + "/LOAD", "/V2/Repository/Models/" + testModel + "/Unload",
		"/v2//repository/models/" + testModel + "/unload", "/v2/repository/models/" + testModel + "/%75nload",
	} {
		status, _, body := do(t, s, "POST", path, []byte(`{"model_id":"`+testModel+`/1"}`), "Authorization", "Bearer inference-key", "Content-Type", "application/json")
		if status == 200 {
			t.Errorf("POST %s with the inference key: 200 %s", path, body)
		}
	}
	if st, _ := s.models.Get(testModel + "/1"); st == nil {
		t.Fatal("a control route unloaded the model with the inference key")
	}
}
