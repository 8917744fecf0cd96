// Command pulumi-language-python is the test bed's Python language host: the plugin the Pulumi CLI starts
// to run a Python program.
//
// Why our own: the upstream host lives in its own Go module
// (github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3), which the Go module proxy reachable
// here refuses at every version, while the CLI, the SDK and the Python scripts are served. So the test bed
// implements the small part of the LanguageRuntime protocol (sdk/v3/proto/go/language_grpc.pb.go) that
// `pulumi up/preview/refresh/destroy` use, and runs the program exactly as a Python host must: the SDK's
// own `pulumi-language-python-exec` script, from the project's virtualenv, with the stack config in
// PULUMI_CONFIG. It is not a user's host: a real deploy uses the one in the Pulumi release.
//
// What it leaves out: dependency installation (the test bed creates the virtualenv itself), plugin
// discovery (providers come from PATH; automatic acquisition is off), code generation, and plugins other
// than policy packs (RunPlugin runs a Python policy pack as `python -m pulumi.policy`).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	pbempty "google.golang.org/protobuf/types/known/emptypb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// bailExitCode is the exec script's "I already told the user" exit status (pulumi-language-python-exec).
const bailExitCode = 32

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engine string

	mu      sync.Mutex
	running map[*exec.Cmd]struct{}
}

func main() {
	// The CLI passes the engine address as the last argument, after flags a real host knows
	// (-root, -tracing, ...); none of them changes what this host does.
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: pulumi-language-python [flags] ENGINE_ADDRESS")
		os.Exit(2)
	}
	h := &host{engine: os.Args[len(os.Args)-1], running: map[*exec.Cmd]struct{}{}}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: %v\n", err)
		os.Exit(1)
	}
	// The CLI reads the port from the first line of stdout.
	fmt.Println(handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: %v\n", err)
		os.Exit(1)
	}
}

func (h *host) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	if req.GetEngineAddress() != "" {
		h.engine = req.GetEngineAddress()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *pbempty.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version.Version}, nil
}

// GetRequiredPackages reports none: the test bed puts every provider on PATH and turns automatic plugin
// acquisition off, so the engine loads each provider when the program first registers one of its resources.
func (h *host) GetRequiredPackages(
	context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

func (h *host) GetRequiredPlugins(
	context.Context, *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *host) GetProgramDependencies(
	context.Context, *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	return &pulumirpc.GetProgramDependenciesResponse{}, nil
}

func (h *host) About(_ context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	python, err := interpreter(req.GetInfo())
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(python, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --version: %w", python, err)
	}
	return &pulumirpc.AboutResponse{Executable: python, Version: string(out)}, nil
}

func (h *host) Cancel(context.Context, *pbempty.Empty) (*pbempty.Empty, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for cmd := range h.running {
		_ = cmd.Process.Signal(syscall.SIGINT)
	}
	return &pbempty.Empty{}, nil
}

// Run executes the program with the SDK's exec script, as the Python SDK expects to be started.
func (h *host) Run(_ context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	python, err := interpreter(req.GetInfo())
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	script := filepath.Join(filepath.Dir(self), "pulumi-language-python-exec")

	args := []string{"-u", script,
		"--monitor", req.GetMonitorAddress(),
		"--engine", h.engine,
		"--project", req.GetProject(),
		"--stack", req.GetStack(),
		"--pwd", req.GetPwd(),
		"--parallel", strconv.Itoa(int(req.GetParallel())),
	}
	if org := req.GetOrganization(); org != "" {
		args = append(args, "--organization", org)
	}
	if info := req.GetInfo(); info != nil && info.GetRootDirectory() != "" {
		args = append(args, "--root_directory", info.GetRootDirectory())
	}
	if req.GetDryRun() {
		args = append(args, "--dry_run", "true")
	}
	args = append(args, program(req))
	args = append(args, req.GetArgs()...)

	config, err := json.Marshal(req.GetConfig())
	if err != nil {
		return nil, err
	}
	secretKeys, err := json.Marshal(req.GetConfigSecretKeys())
	if err != nil {
		return nil, err
	}

	// Not CommandContext: a cancelled RPC must not SIGKILL the program past the SDK's own clean-up;
	// Cancel interrupts it instead.
	cmd := exec.Command(python, args...)
	cmd.Dir = req.GetPwd()
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(activated(python),
		"PULUMI_CONFIG="+string(config),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys),
	)
	started, err := h.run(cmd)
	if !started {
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("starting %s: %v", python, err)}, nil
	}

	var exit *exec.ExitError
	switch {
	case err == nil:
		return &pulumirpc.RunResponse{}, nil
	case errors.As(err, &exit) && exit.ExitCode() == bailExitCode:
		return &pulumirpc.RunResponse{Bail: true}, nil
	case errors.As(err, &exit):
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d",
			exit.ExitCode())}, nil
	default:
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
}

// activated is this process's environment with the interpreter's virtualenv activated, as a Python host
// runs a program: its bin folder first on PATH, VIRTUAL_ENV set, PYTHONHOME unset.
func activated(python string) []string {
	venv := filepath.Dir(filepath.Dir(python))
	if _, err := os.Stat(filepath.Join(venv, "pyvenv.cfg")); err != nil {
		return os.Environ()
	}
	env := []string{"VIRTUAL_ENV=" + venv, "PATH=" + filepath.Join(venv, "bin") + string(os.PathListSeparator) + os.Getenv("PATH")}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, "VIRTUAL_ENV=") && !strings.HasPrefix(kv, "PYTHONHOME=") {
			env = append(env, kv)
		}
	}
	return env
}

// RunPlugin runs a Python policy pack (an analyzer plugin), the way the SDK starts one: `python -u -m
// pulumi.policy <args> <pack folder>` in the pack's folder, its output streamed back to the engine, which
// reads the analyzer's port from it. The pack gets its stack config from the engine (ConfigureStack).
func (h *host) RunPlugin(
	req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer,
) error {
	if req.GetKind() != "analyzer" {
		return status.Errorf(codes.Unimplemented,
			"the test bed's Python host runs policy packs only, not %q plugins", req.GetKind())
	}
	python, err := interpreter(req.GetInfo())
	if err != nil {
		return err
	}
	pack := req.GetInfo().GetProgramDirectory()
	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	args := append([]string{"-u", "-m", "pulumi.policy"}, req.GetArgs()...)
	cmd := exec.Command(python, append(args, pack)...)
	cmd.Dir = pack
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.Env = append(activated(python), req.GetEnv()...)
	started, err := h.run(cmd)
	if !started {
		_ = closer.Close()
		return err
	}
	if closeErr := closer.Close(); closeErr != nil {
		return closeErr
	}
	code := 0
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		code = exit.ExitCode()
	} else if err != nil {
		return err
	}
	return server.Send(&pulumirpc.RunPluginResponse{
		Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(code)},
	})
}

// run starts cmd where Cancel can reach it and waits for it; started is false when it could not start.
func (h *host) run(cmd *exec.Cmd) (started bool, err error) {
	h.mu.Lock()
	if err := cmd.Start(); err != nil {
		h.mu.Unlock()
		return false, err
	}
	h.running[cmd] = struct{}{}
	h.mu.Unlock()
	err = cmd.Wait()
	h.mu.Lock()
	delete(h.running, cmd)
	h.mu.Unlock()
	return true, err
}

// program is the entry point the CLI resolved from Pulumi.yaml's `main` (the project directory by default).
func program(req *pulumirpc.RunRequest) string {
	if info := req.GetInfo(); info != nil && info.GetProgramDirectory() != "" {
		entry := info.GetEntryPoint()
		if entry == "" || entry == "." {
			return info.GetProgramDirectory()
		}
		return filepath.Join(info.GetProgramDirectory(), entry)
	}
	return req.GetProgram() //nolint:staticcheck // the field older engines fill
}

// interpreter is the virtualenv's python when Pulumi.yaml names one (runtime.options.virtualenv, relative
// to the project root), else PULUMI_PYTHON_CMD or python3, the order a Python host uses.
func interpreter(info *pulumirpc.ProgramInfo) (string, error) {
	if info != nil && info.GetOptions() != nil {
		if venv, ok := info.GetOptions().AsMap()["virtualenv"].(string); ok && venv != "" {
			if !filepath.IsAbs(venv) {
				venv = filepath.Join(info.GetRootDirectory(), venv)
			}
			python := filepath.Join(venv, "bin", "python")
			if _, err := os.Stat(python); err != nil {
				return "", fmt.Errorf("the 'virtualenv' option in Pulumi.yaml is set to %q, "+
					"but %s does not exist: create it with python3 -m venv and install requirements.txt", venv, python)
			}
			return python, nil
		}
	}
	if cmd := os.Getenv("PULUMI_PYTHON_CMD"); cmd != "" {
		return cmd, nil
	}
	return exec.LookPath("python3")
}
