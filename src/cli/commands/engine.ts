import os from "node:os";
import path from "node:path";
import { Command, Option } from "commander";
import { loadConfig } from "../../config/index.js";
import {
  chooseDefaultBackend,
  estimateBuildMinutes,
  buildLlamaServer,
  type LlamaServerBuildResult,
} from "../../engines/llama-server/binary-build.js";
import {
  type EngineBuild,
  engineBuildName,
  enginesDirectory,
  type LlamaServerBackend,
  listEngines,
  llamaServerBackends,
  readBundledLlamaCppSource,
  resolveLlamaServer,
} from "../../engines/llama-server/binary.js";
import { defaultMoestroHome } from "../../models/model-store.js";
import { CountProgressBar } from "../count-progress-bar.js";
import { formatTable } from "../format-table.js";
import { parseWholeNumber } from "../number-options.js";
import { runUntilInterrupted } from "../run-until-interrupted.js";

/** The home folder and the configured llama-server, as the config says (`--home`, `MOESTRO_HOME`, config file). */
function engineSettings(flags: { home?: string }): { home: string; configured: string | undefined } {
  const config = loadConfig({ env: process.env, flags: { home: flags.home } });
  return { home: config.home ?? defaultMoestroHome(process.env), configured: config.engine.llamaServer };
}

/** A build as `--json` prints it. */
function describe(build: EngineBuild) {
  return {
    name: build.name,
    commit: build.commit,
    tag: build.tag ?? null,
    backend: build.backend,
    path: build.path,
    version: build.version,
    builtAt: build.builtAt,
    buildSeconds: build.buildSeconds,
  };
}

function formatDuration(seconds: number): string {
  const minutes = Math.floor(seconds / 60);
  return minutes > 0 ? `${minutes} min ${Math.round(seconds % 60)} s` : `${Math.round(seconds)} s`;
}

/** `moestro engine build`, `moestro engine ls`: the llama-server binaries that workers run (docs/engines.md). */
export function createEngineCommand(): Command {
  const engine = new Command("engine").description(
    "The llama-server binaries that llama-server workers run: build one from the llama.cpp source node-llama-cpp ships, list them.",
  );

  engine
    .command("build")
    .description(
      "Build llama.cpp's llama-server from the source inside node-llama-cpp (the same commit as the in-process engine), offline, into $MOESTRO_HOME/engines. A finished build of the same commit and backend is reused.",
    )
    .addOption(
      new Option("--backend <backend>", "what to build for (default: cuda when a CUDA GPU and nvcc are found, else cpu)").choices(
        llamaServerBackends,
      ),
    )
    .option("--jobs <n>", "parallel compile jobs (default: the available cores)", (value) => parseWholeNumber(value, 1))
    .option("--home <dir>", "data folder (env MOESTRO_HOME, default ~/.moestro)")
    .option("--json", "print the build as one JSON object on stdout; progress goes to stderr as JSON lines")
    .action(async (flags: { backend?: LlamaServerBackend; jobs?: number; home?: string; json?: boolean }) => {
      const { home } = engineSettings(flags);
      const json = flags.json === true;
      const choice = flags.backend === undefined ? await chooseDefaultBackend() : undefined;
      const backend = flags.backend ?? choice!.backend;
      const jobs = flags.jobs ?? os.availableParallelism();
      const source = readBundledLlamaCppSource();
      const estimate = estimateBuildMinutes({ backend, cores: jobs });
      const logPath = path.join(enginesDirectory(home), `${engineBuildName(source.commit, backend)}.build.log`);
      const bar = new CountProgressBar({ label: "llama-server", isEnabled: !json });
      let lastStep = "";
      let lastDecile = -1;
      let hasAnnounced = false;
      const announce = (): void => {
        // Said once the build really starts (a reused build returns before any progress).
        if (hasAnnounced) return;
        hasAnnounced = true;
        const why = choice ? ` (${choice.reason})` : "";
        const line = `building llama-server for ${backend}${why} from llama.cpp ${source.commit.slice(0, 7)}${source.tag ? ` (${source.tag})` : ""} with ${jobs} jobs: ${estimate.text}; log: ${logPath}`;
        process.stderr.write(
          json
            ? `${JSON.stringify({ event: "engine-build-start", backend, commit: source.commit, jobs, logPath, estimate: estimate.text, estimateMinutes: { idle: estimate.idleMinutes, busy: estimate.busyMinutes } })}\n`
            : `${line}\n`,
        );
      };
      const result: LlamaServerBuildResult | undefined = await runUntilInterrupted(
        (signal) =>
          buildLlamaServer({
            home,
            backend,
            jobs,
            signal,
            onProgress: ({ step, percent }) => {
              announce();
              if (json) {
                // A line per step and per 10%: enough to follow a 15-minute build in a CI log.
                const decile = Math.floor(percent / 10);
                if (step === lastStep && decile === lastDecile) return;
                lastStep = step;
                lastDecile = decile;
                process.stderr.write(`${JSON.stringify({ event: "engine-build-progress", step, percent })}\n`);
                return;
              }
              bar.update(percent, 100, step);
            },
          }),
        {
          prefix: "moestro engine build",
          message: "interrupted; nothing was kept, run the same command again to build from the start.",
          json,
          onEnd: () => bar.stop(),
        },
      );
      if (result === undefined) return;
      if (json) {
        process.stdout.write(
          `${JSON.stringify({ ...describe(result), reused: result.isReused, directory: result.directory, logPath: result.logPath, cmakeArgs: result.cmakeArgs, amx: result.amx })}\n`,
        );
        return;
      }
      const what = `llama-server (${result.backend}, llama.cpp ${result.commit.slice(0, 7)})`;
      process.stdout.write(
        result.isReused
          ? `${what} is already built (${result.builtAt.slice(0, 16).replace("T", " ")}), reused: ${result.path}\n`
          : `built ${what} in ${formatDuration(result.buildSeconds)}: ${result.path}\n`,
      );
      if (result.amx.state === "faults") process.stdout.write(`built without AMX: ${result.amx.detail}\n`);
      process.stdout.write(
        `moestro serve runs it for llama-server workers (--engine llama-server, or auto where the plan needs one); to run another binary, pass --llama-server PATH.\n`,
      );
    });

  engine
    .command("ls")
    .alias("list")
    .description("List the llama-server builds in $MOESTRO_HOME/engines (commit, backend, path) and the binary workers run.")
    .option("--home <dir>", "data folder (env MOESTRO_HOME, default ~/.moestro)")
    .option("--json", "print a JSON array of the builds")
    .action(async (flags: { home?: string; json?: boolean }) => {
      const { home, configured } = engineSettings(flags);
      const builds = await listEngines(home);
      if (flags.json) {
        process.stdout.write(`${JSON.stringify(builds.map(describe))}\n`);
        return;
      }
      if (builds.length === 0)
        process.stdout.write(`No llama-server built in ${enginesDirectory(home)}. Build one: moestro engine build\n`);
      else
        process.stdout.write(
          formatTable(
            ["NAME", "BACKEND", "COMMIT", "BUILT", "PATH"],
            builds.map((build) => [
              build.name,
              build.backend,
              build.commit.slice(0, 12),
              build.builtAt.slice(0, 16).replace("T", " "),
              build.path,
            ]),
          ),
        );
      const used = await resolveLlamaServer({ configured, home });
      if (used !== undefined) process.stdout.write(`workers run ${used}${configured ? " (engine.llamaServer)" : ""}\n`);
    });

  return engine;
}
