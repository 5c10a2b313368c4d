import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { configSchema, loadConfig } from "../../src/config/index.js";

// The manifests of deploy/kubernetes, checked offline: each object against the Kubernetes OpenAPI schemas that
// kubernetes-models compiles (Kubernetes 1.27; they check types, required fields and formats, and, as Kubernetes' own
// schemas, allow unknown fields, so a misspelt optional field is caught by `kubectl apply`'s strict field validation,
// not here), their references to each other, and moestro's config file and environment against moestro's own loader.

const folder = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../deploy/kubernetes");

/** A Kubernetes object as read from YAML. */
interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

/** Every file the kustomization lists, with its objects. */
function readManifests(): Array<{ file: string; objects: Manifest[] }> {
  const kustomization = parseYaml("kustomization.yaml")[0] as { resources: string[] };
  return kustomization.resources.map((file) => ({ file, objects: parseYaml(file) as Manifest[] }));
}

function parseYaml(file: string): unknown[] {
  const documents = parseAllDocuments(readFileSync(path.join(folder, file), "utf8"));
  for (const document of documents) if (document.errors.length > 0) throw new Error(`${file}: ${document.errors[0]!.message}`);
  return documents.map((document) => document.toJS() as unknown);
}

const manifests = readManifests();
const objects = manifests.flatMap(({ objects }) => objects);
const find = <T = Manifest>(kind: string, name: string): T => {
  const object = objects.find((candidate) => candidate.kind === kind && candidate.metadata.name === name);
  if (object === undefined) throw new Error(`no ${kind} ${name} in deploy/kubernetes`);
  return object as T;
};

interface Container {
  name: string;
  args?: string[];
  ports?: Array<{ name?: string; containerPort: number }>;
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }>;
  envFrom?: Array<{ secretRef?: { name: string } }>;
  startupProbe?: { httpGet?: { path: string; port: string | number } };
  readinessProbe?: { httpGet?: { path: string; port: string | number } };
  livenessProbe?: { httpGet?: { path: string; port: string | number } };
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}
interface PodTemplate {
  metadata: { labels: Record<string, string> };
  spec: {
    containers: Container[];
    volumes?: Array<{ name: string; configMap?: { name: string } }>;
    terminationGracePeriodSeconds?: number;
  };
}
type Workload = Manifest & { spec: { selector: { matchLabels: Record<string, string> }; template: PodTemplate } };
type Secret = Manifest & { stringData?: Record<string, string>; data?: Record<string, string> };

/** The keys of a Secret, from `stringData` and `data`. */
const secretKeys = (secret: Secret): string[] => [...Object.keys(secret.stringData ?? {}), ...Object.keys(secret.data ?? {})];

describe("deploy/kubernetes manifests", () => {
  it("the kustomization lists every manifest in the folder", () => {
    const files = readdirSync(folder).filter((file) => file.endsWith(".yaml") && file !== "kustomization.yaml");
    expect(manifests.map(({ file }) => file).sort()).toEqual(files.sort());
  });

  it("every object validates against the Kubernetes schemas (kubernetes-models)", async () => {
    expect(objects.length).toBeGreaterThanOrEqual(11);
    // kubernetes-models lays its classes out by group and version (the core group as v1), each folder exporting its kinds.
    const groups: Record<string, Record<string, unknown>> = {
      v1: await import("kubernetes-models/v1"),
      "apps/v1": await import("kubernetes-models/apps/v1"),
      "policy/v1": await import("kubernetes-models/policy/v1"),
    };
    for (const object of objects) {
      const Model = groups[object.apiVersion]?.[object.kind] as (new (data: unknown) => { validate(): void }) | undefined;
      expect(Model, `${object.apiVersion} ${object.kind}: add its group to this test`).toBeDefined();
      expect(() => new Model!(object).validate(), `${object.kind} ${object.metadata.name}`).not.toThrow();
    }
  });

  it("the schemas catch a wrong type, so the check above checks something", async () => {
    const { Deployment } = await import("kubernetes-models/apps/v1/Deployment");
    const deployment = structuredClone(find<Workload>("Deployment", "moestro")) as Workload;
    (deployment.spec as Record<string, unknown>).replicas = "two";
    expect(() => new Deployment(deployment as never).validate()).toThrow(/replicas must be integer/);
  });

  it("selectors match their pod labels, services reach named ports, and every referenced Secret, key and ConfigMap exists", () => {
    for (const workload of objects.filter((object): object is Workload => ["Deployment", "StatefulSet"].includes(object.kind))) {
      const labels = workload.spec.template.metadata.labels;
      expect(labels, workload.metadata.name).toMatchObject(workload.spec.selector.matchLabels);
      for (const container of workload.spec.template.spec.containers) {
        for (const { secretRef } of container.envFrom ?? []) if (secretRef) find("Secret", secretRef.name);
        for (const { valueFrom } of container.env ?? []) {
          const reference = valueFrom?.secretKeyRef;
          if (reference) expect(secretKeys(find<Secret>("Secret", reference.name))).toContain(reference.key);
        }
        const portNames = (container.ports ?? []).map((port) => port.name);
        for (const probe of [container.startupProbe, container.readinessProbe, container.livenessProbe]) {
          const port = probe?.httpGet?.port;
          if (typeof port === "string") expect(portNames).toContain(port);
        }
      }
      for (const volume of workload.spec.template.spec.volumes ?? []) if (volume.configMap) find("ConfigMap", volume.configMap.name);
    }
    for (const service of objects.filter((object) => object.kind === "Service")) {
      const spec = service.spec as { selector: Record<string, string>; ports: Array<{ targetPort: string | number }> };
      const targets = objects.filter(
        (object): object is Workload =>
          ["Deployment", "StatefulSet"].includes(object.kind) &&
          Object.entries(spec.selector).every(([key, value]) => (object as Workload).spec.template.metadata.labels[key] === value),
      );
      expect(targets, `Service ${service.metadata.name} selects nothing`).toHaveLength(1);
      const portNames = targets[0]!.spec.template.spec.containers.flatMap((container) => (container.ports ?? []).map((port) => port.name));
      for (const { targetPort } of spec.ports) if (typeof targetPort === "string") expect(portNames).toContain(targetPort);
    }
  });

  it("moestro's probes call its health endpoint, GET /health", () => {
    const [container] = find<Workload>("Deployment", "moestro").spec.template.spec.containers;
    for (const probe of [container!.startupProbe, container!.readinessProbe, container!.livenessProbe]) {
      expect(probe?.httpGet?.path).toBe("/health");
    }
  });
});

describe("deploy/kubernetes: moestro's config file and environment, through moestro's config loader", () => {
  const deployment = find<Workload>("Deployment", "moestro");
  const container = deployment.spec.template.spec.containers[0]!;
  const configMap = find<Manifest & { data: Record<string, string> }>("ConfigMap", "moestro-config");
  const fileText = configMap.data["config.json"]!;
  const fileConfig = JSON.parse(fileText) as Record<string, unknown>;
  const secret = find<Secret>("Secret", "moestro-secrets");
  /** The container's environment: its literal values, then the Secret it loads whole. */
  const env: Record<string, string> = {
    ...Object.fromEntries(
      (container.env ?? []).filter((variable) => variable.value !== undefined).map((variable) => [variable.name, variable.value!]),
    ),
    ...secret.stringData,
  };

  /** Loads the ConfigMap's file with the container's environment, as `moestro serve` does in the pod. */
  const load = (): ReturnType<typeof loadConfig> => {
    const directory = mkdtempSync(path.join(os.tmpdir(), "moestro-k8s-config-"));
    try {
      const file = path.join(directory, "config.json");
      writeFileSync(file, fileText);
      return loadConfig({ configFile: file, env });
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  };

  it("the config file is mounted where MOESTRO_CONFIG points, and the container runs serve", () => {
    const mount = container.volumeMounts!.find((volumeMount) => volumeMount.name === "config")!;
    expect(env.MOESTRO_CONFIG).toBe(path.posix.join(mount.mountPath, "config.json"));
    expect(container.args).toEqual(["serve"]);
  });

  it("loads: listening on every address at the container's port, PostgreSQL and Redis from the Secret", () => {
    const config = load();
    expect(config.server.host).toBe("0.0.0.0");
    expect(container.ports!.map((port) => port.containerPort)).toContain(config.server.port);
    expect(config.databaseUrl).toMatch(/^postgres:\/\/[^@]+@postgres:5432\//);
    expect(config.limits).toMatchObject({ store: "redis", redisUrl: expect.stringMatching(/^redis:\/\/:[^@]+@redis:6379$/) });
    expect(config.adminKey).toBeDefined();
  });

  it("the pod's grace period outlasts moestro's shutdown grace, the preStop pause and the 5 s for last answers", () => {
    const config = load();
    const graceSeconds = deployment.spec.template.spec.terminationGracePeriodSeconds ?? 30;
    expect(graceSeconds * 1000).toBeGreaterThanOrEqual(config.server.shutdownGraceMs + 5_000 + 5_000);
  });

  it("every key of the config file is one moestro knows", () => {
    const unknown = unknownKeys(fileConfig, configSchema, []);
    expect(unknown).toEqual([]);
    // The walk itself finds a misspelt key, nested or in a list.
    expect(unknownKeys({ server: { hots: "0.0.0.0" }, models: [{ path: "m.gguf", engin: "inproc" }] }, configSchema, [])).toEqual([
      "server.hots",
      "models.0.engin",
    ]);
  });

  it("the upstreams load as written", () => {
    const config = load() as unknown as { upstreams: Array<{ url: string; apiKeyEnv?: string }> };
    const written = fileConfig.upstreams as Array<{ url: string; apiKeyEnv?: string }>;
    expect(config.upstreams.map((upstream) => upstream.url)).toEqual(written.map((upstream) => upstream.url));
  });

  it("each upstream's apiKeyEnv names a variable the container has", () => {
    for (const upstream of fileConfig.upstreams as Array<{ apiKeyEnv?: string }>) {
      if (upstream.apiKeyEnv !== undefined) expect(Object.keys(env)).toContain(upstream.apiKeyEnv);
    }
  });
});

/** The dotted paths of `value`'s object keys that `schema` does not declare (records, such as aliases, take any key). */
function unknownKeys(value: unknown, schema: z.ZodTypeAny, at: string[]): string[] {
  let inner = schema;
  while (
    inner instanceof z.ZodDefault ||
    inner instanceof z.ZodOptional ||
    inner instanceof z.ZodNullable ||
    inner instanceof z.ZodEffects
  ) {
    inner = inner instanceof z.ZodEffects ? (inner._def.schema as z.ZodTypeAny) : (inner._def.innerType as z.ZodTypeAny);
  }
  if (inner instanceof z.ZodArray && Array.isArray(value)) {
    return value.flatMap((item, index) => unknownKeys(item, inner._def.type as z.ZodTypeAny, [...at, String(index)]));
  }
  if (!(inner instanceof z.ZodObject) || value === null || typeof value !== "object") return [];
  const shape = inner.shape as Record<string, z.ZodTypeAny>;
  return Object.entries(value).flatMap(([key, child]) =>
    key in shape ? unknownKeys(child, shape[key]!, [...at, key]) : [[...at, key].join(".")],
  );
}
