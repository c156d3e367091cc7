package kube

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/slimage/slimage/images/deploy"
)

func TestPlan(t *testing.T) {
	p, err := Plan([]Manifest{{Path: "testdata/workloads.yaml", Name: "deploy/workloads.yaml"}},
		Service{Name: "api", Repositories: []string{"registry.example/shop/api:dev"}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range p.Containers {
		got = append(got, c.Object+"/"+c.Name+" by "+c.Match)
	}
	want := []string{
		"Deployment shop/api/api by slimage://api",
		"CronJob nightly/run by repository registry.example/shop/api",
		"StatefulSet db/db by repository registry.example/shop/api",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("containers\n %q\nwant\n %q", got, want)
	}
	api := p.Containers[0]
	if api.Where() != "deploy/workloads.yaml: Deployment shop/api, container api" {
		t.Errorf("where: %s", api.Where())
	}
	if api.User != "1000" || api.Group != "0" || api.FSGroup != "2000" || !reflect.DeepEqual(api.Groups, []string{"2000"}) ||
		!api.ReadOnlyRoot || !api.NoNewPrivileges || !reflect.DeepEqual(api.CapDrop, []string{"ALL"}) {
		t.Errorf("security: %+v", api)
	}
	if !reflect.DeepEqual(api.Command, []string{"/app/api"}) || !reflect.DeepEqual(api.Args, []string{"-port", "9090", "$(PORT)"}) {
		t.Errorf("command %q args %q", api.Command, api.Args)
	}
	if !reflect.DeepEqual(api.Env, []string{"MODE=prod", "PORT=9090", "GREETING=hi prod"}) {
		t.Errorf("env %q", api.Env)
	}
	if api.Memory != 128<<20 || api.Grace != 20*time.Second || api.PreStop != 3*time.Second {
		t.Errorf("memory %d grace %s preStop %s", api.Memory, api.Grace, api.PreStop)
	}
	r := api.Probes[0]
	want0 := deploy.Probe{Field: deploy.Readiness, Handler: "httpGet", Path: "/ready", Port: 9090, PortName: "http", Scheme: "HTTP",
		Period: 10 * time.Second, Timeout: time.Second, SuccessThreshold: 1, FailureThreshold: 3}
	if !reflect.DeepEqual(r, want0) {
		t.Errorf("probe %+v\nwant %+v", r, want0)
	}
	if !p.Containers[1].Job || p.Containers[1].Grace != 30*time.Second {
		t.Errorf("cronjob: %+v", p.Containers[1])
	}
}

func TestPlanRefuses(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"kind: Deployment\nspec: [", "document 1"},
		{"kind: Deployment\nspec: {replicas: many}", "document 1 (Deployment)"},
		{"kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: c\n      image: slimage://api\n      envFrom: [{configMapRef: {name: missing}}]\n",
			"Pod p, container c: envFrom names ConfigMap missing"},
	} {
		path := t.TempDir() + "/bad.yaml"
		writeFile(t, path, tc.yaml)
		_, err := Plan([]Manifest{{Path: path, Name: "deploy/bad.yaml"}}, Service{Name: "api"})
		if err == nil || !strings.Contains(err.Error(), "deploy/bad.yaml") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
