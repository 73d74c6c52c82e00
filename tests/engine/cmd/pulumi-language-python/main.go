// Command pulumi-language-python is mlplan's minimal Python language host for the e2e tests.
//
// Why it exists: upstream's host is its own Go module
// (github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3) and the module proxy
// reachable here does not serve it at any version we tried. Everything that decides how a
// program runs is still upstream code: the engine (pulumi CLI), the virtualenv handling
// (github.com/pulumi/pulumi/sdk/v3/python/toolchain) and the Python entry point
// (pulumi-language-python-exec from the sdk module, at the Python SDK's version). This file
// only wires them to the LanguageRuntime gRPC interface:
//
//   - Run: `<venv python> -u pulumi-language-python-exec --monitor ... PROGRAM` with the stack
//     config in PULUMI_CONFIG / PULUMI_CONFIG_SECRET_KEYS; exit code 32 means "already reported".
//   - RunPlugin: `<venv python> -u <plugin dir> <engine address> ...` with the working directory
//     the engine gives, stdout/stderr streamed back as they come, then the exit code. The same
//     command serves both kinds the engine runs from a folder: policy packs (kind "analyzer",
//     PulumiPolicy.yaml) and source-based providers such as mlplan's component provider (kind
//     "resource", PulumiPlugin.yaml, `components/provider`: its __main__.py calls
//     component_provider_host, which prints its gRPC port on stdout for the engine). As upstream's
//     host does for plugins, a plugin whose options name no virtualenv runs in `venv` beside its
//     PulumiPlugin.yaml (never the ambient python); a relative virtualenv is relative to the
//     plugin's folder.
//   - InstallDependencies, About, GetProgramDependencies: delegated to the toolchain package, except
//     for a plugin (IsPlugin) whose virtualenv already has a python: nothing is reinstalled. (For
//     every `pulumi package get-schema` or preview that loads a source plugin, upstream's host runs
//     `python -m venv` over it, `pip install --upgrade pip setuptools wheel` and
//     `pip install -r requirements.txt` in it: about 50 s here, and it rewrites the project's
//     .venv, which mlplan's plugin shares. `pip install -e .` keeps that venv current.) A plugin
//     without one gets upstream's behaviour: the venv is made and its requirements.txt installed.
//   - GetRequiredPlugins / GetRequiredPackages: none; providers are ambient binaries on PATH and
//     the engine loads them when the program registers the first resource of a package.
//
// Usage (by the engine): pulumi-language-python [flags] ENGINE_ADDRESS; prints the port.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// execScript is the Python entry point shipped with the SDK module.
const execScript = "pulumi-language-python-exec"

// userActionableExit is the exec script's "error already shown to the user" exit code.
const userActionableExit = 32

func main() {
	tracing := flag.String("tracing", "", "Emit tracing to a Zipkin-compatible tracing endpoint")
	// Obsolete flags, ignored (the options come in each request's ProgramInfo), still accepted as
	// upstream's host accepts them: the plugin host of pkg/sdk v3.206, which the YAML language host
	// embeds to load schemas, starts a language host with its runtime options as flags
	// (`-virtualenv=../../.venv -root=DIR ENGINE`).
	_ = flag.String("root", "", "[obsolete] Project root")
	_ = flag.String("virtualenv", "", "[obsolete] Virtual environment path")
	_ = flag.String("typechecker", "", "[obsolete] Type checker")
	_ = flag.String("toolchain", "pip", "[obsolete] Package manager")
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "pulumi-language-python: missing engine address")
		os.Exit(1)
	}
	host := &pythonHost{engine: args[0], tracing: *tracing}
	cancel := make(chan bool)
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: could not start: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: %v\n", err)
		os.Exit(1)
	}
}

type pythonHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engine  string
	tracing string
}

// pythonOptions reads the virtualenv and toolchain options of a program or plugin. A plugin
// (isPlugin) without a virtualenv option gets "venv", as upstream's host gives it: plugins never
// run in the ambient python.
func pythonOptions(info *pulumirpc.ProgramInfo, isPlugin bool) toolchain.PythonOptions {
	opts := toolchain.PythonOptions{Toolchain: toolchain.Pip}
	if info != nil {
		opts.Root = info.GetRootDirectory()
		opts.ProgramDir = info.GetProgramDirectory()
		if o := info.GetOptions(); o != nil {
			m := o.AsMap()
			if v, ok := m["virtualenv"].(string); ok {
				opts.Virtualenv = v
			}
			switch m["toolchain"] {
			case "uv":
				opts.Toolchain = toolchain.Uv
			case "poetry":
				opts.Toolchain = toolchain.Poetry
			}
		}
	}
	if isPlugin && opts.Toolchain == toolchain.Pip && opts.Virtualenv == "" {
		opts.Virtualenv = "venv"
	}
	return opts
}

// toolchainFor resolves the python (virtualenv, toolchain) of a program (isPlugin false) or of a
// plugin run from its folder (isPlugin true) from its ProgramInfo options.
func toolchainFor(info *pulumirpc.ProgramInfo, isPlugin bool) (toolchain.Toolchain, error) {
	return toolchain.ResolveToolchain(pythonOptions(info, isPlugin))
}

// existingPluginVenv is the plugin's virtualenv folder when it already has a python, else "".
// Example: root /repo/components/provider, virtualenv ../../.venv -> /repo/.venv when
// /repo/.venv/bin/python exists.
func existingPluginVenv(info *pulumirpc.ProgramInfo) string {
	opts := pythonOptions(info, true)
	if opts.Toolchain != toolchain.Pip || opts.Virtualenv == "" {
		return ""
	}
	venv := opts.Virtualenv
	if !filepath.IsAbs(venv) {
		venv = filepath.Join(opts.Root, venv)
	}
	if st, err := os.Stat(filepath.Join(venv, "bin", "python")); err != nil || st.IsDir() {
		return ""
	}
	return venv
}

// findExecScript looks next to this binary first, then on PATH.
func findExecScript() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), execScript)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	p, err := exec.LookPath(execScript)
	if err != nil {
		return "", fmt.Errorf("%s not found next to the language host or on PATH: %w", execScript, err)
	}
	return p, nil
}

func withEnv(cmd *exec.Cmd, extra ...string) {
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, extra...)
}

func (h *pythonHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

func (h *pythonHost) GetRequiredPlugins(
	context.Context, *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *pythonHost) GetRequiredPackages(
	context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *pythonHost) RuntimeOptionsPrompts(
	context.Context, *pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

func (h *pythonHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	tc, err := toolchainFor(req.GetInfo(), false)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	script, err := findExecScript()
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	program := req.GetProgram()
	if info := req.GetInfo(); info != nil && info.GetProgramDirectory() != "" {
		program = filepath.Join(info.GetProgramDirectory(), info.GetEntryPoint())
	}
	args := []string{"-u", script,
		"--monitor", req.GetMonitorAddress(),
		"--engine", h.engine,
		"--project", req.GetProject(),
		"--stack", req.GetStack(),
		"--pwd", req.GetPwd(),
		"--dry_run", strconv.FormatBool(req.GetDryRun()),
		"--parallel", strconv.Itoa(int(req.GetParallel())),
	}
	if req.GetOrganization() != "" {
		args = append(args, "--organization", req.GetOrganization())
	}
	if root := req.GetInfo().GetRootDirectory(); root != "" {
		args = append(args, "--root_directory", root)
	}
	if h.tracing != "" {
		args = append(args, "--tracing", h.tracing)
	}
	args = append(args, program)
	args = append(args, req.GetArgs()...)

	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	// Never "null": the SDK iterates over both.
	configMap, secretKeyList := req.GetConfig(), req.GetConfigSecretKeys()
	if configMap == nil {
		configMap = map[string]string{}
	}
	if secretKeyList == nil {
		secretKeyList = []string{}
	}
	config, err := json.Marshal(configMap)
	if err != nil {
		return nil, err
	}
	secretKeys, err := json.Marshal(secretKeyList)
	if err != nil {
		return nil, err
	}
	withEnv(cmd, "PULUMI_CONFIG="+string(config), "PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys))
	cmd.Dir = req.GetPwd()
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if exitErr.ExitCode() == userActionableExit {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{
				Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exitErr.ExitCode()),
			}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Problem executing program (could not run language executor): %v", err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// streamWriter forwards a child's output to a gRPC stream as it arrives.
type streamWriter struct {
	mu   *sync.Mutex
	send func([]byte) error
}

func (w streamWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	buf := append([]byte(nil), p...)
	if err := w.send(buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (h *pythonHost) RunPlugin(
	req *pulumirpc.RunPluginRequest, server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse],
) error {
	switch req.GetKind() {
	case "analyzer", "resource", "converter", "tool":
	default:
		return fmt.Errorf("pulumi-language-python: cannot run a plugin of kind %q", req.GetKind())
	}
	tc, err := toolchainFor(req.GetInfo(), req.GetKind() != "analyzer")
	if err != nil {
		return err
	}
	program := req.GetProgram()
	if info := req.GetInfo(); info != nil && info.GetProgramDirectory() != "" {
		program = filepath.Join(info.GetProgramDirectory(), info.GetEntryPoint())
	}
	cmd, err := tc.Command(server.Context(), append([]string{"-u", program}, req.GetArgs()...)...)
	if err != nil {
		return err
	}
	withEnv(cmd, req.GetEnv()...)
	cmd.Dir = req.GetPwd()
	mu := &sync.Mutex{}
	cmd.Stdout = streamWriter{mu, func(b []byte) error {
		return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: b}})
	}}
	cmd.Stderr = streamWriter{mu, func(b []byte) error {
		return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: b}})
	}}
	code := 0
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return err
		}
		code = exitErr.ExitCode()
	}
	return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(code)}})
}

func (h *pythonHost) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest,
	server grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	tc, err := toolchainFor(req.GetInfo(), req.GetIsPlugin())
	if err != nil {
		return err
	}
	mu := &sync.Mutex{}
	var stdout io.Writer = streamWriter{mu, func(b []byte) error {
		return server.Send(&pulumirpc.InstallDependenciesResponse{Stdout: b})
	}}
	var stderr io.Writer = streamWriter{mu, func(b []byte) error {
		return server.Send(&pulumirpc.InstallDependenciesResponse{Stderr: b})
	}}
	if req.GetIsPlugin() {
		if venv := existingPluginVenv(req.GetInfo()); venv != "" {
			_, err := fmt.Fprintf(stderr, "plugin virtualenv %s exists: not reinstalled "+
				"(pip install -e . updates it)\n", venv)
			return err
		}
	}
	dir := req.GetInfo().GetProgramDirectory()
	if dir == "" {
		dir = req.GetDirectory() //nolint:staticcheck // older engines only send this
	}
	return tc.InstallDependencies(server.Context(), dir, req.GetUseLanguageVersionTools(),
		true, stdout, stderr)
}

func (h *pythonHost) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	tc, err := toolchainFor(req.GetInfo(), false)
	if err != nil {
		return nil, err
	}
	info, err := tc.About(ctx)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{Executable: info.PythonExecutable, Version: info.PythonVersion.String()}, nil
}

func (h *pythonHost) GetProgramDependencies(
	ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	tc, err := toolchainFor(req.GetInfo(), false)
	if err != nil {
		return nil, err
	}
	pkgs, err := tc.ListPackages(ctx, req.GetTransitiveDependencies())
	if err != nil {
		return nil, err
	}
	deps := make([]*pulumirpc.DependencyInfo, 0, len(pkgs))
	for _, p := range pkgs {
		deps = append(deps, &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version})
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}
