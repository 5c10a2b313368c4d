import { mkdir, readdir, readFile, rm, rmdir, stat, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { MoestroError } from "../errors/index.js";

/** A model in the local store. */
export interface StoredModel {
  /** The name it is served and listed under (`Qwen/Qwen3-0.6B-GGUF:Q8_0`). */
  name: string;
  /** The reference it was pulled from (`hf:Qwen/Qwen3-0.6B-GGUF:Q8_0`, a URL). */
  ref: string;
  /** Its files, the first part first for split models. */
  files: Array<{ name: string; sizeBytes: number; sha256: string }>;
  /** Absolute path of the file to load (the first part of a split model). */
  path: string;
  /** Total size of its files, bytes. */
  sizeBytes: number;
  /** When the pull finished, epoch ms. */
  pulledAtMs: number;
}

/** The default home of moestro's files: `$MOESTRO_HOME`, else `~/.moestro`. */
export function defaultMoestroHome(env: Record<string, string | undefined> = {}): string {
  return env.MOESTRO_HOME && env.MOESTRO_HOME.length > 0 ? path.resolve(env.MOESTRO_HOME) : path.join(os.homedir(), ".moestro");
}

/**
 * The local model store: `<home>/models/<folder>/` per model, holding its GGUF files and a `model.json` manifest written
 * last (a folder without one is an unfinished pull, ignored by `list`).
 */
export class ModelStore {
  /** The store's root folder, `<home>/models`. */
  readonly root: string;

  /** @param home moestro's home folder (`$MOESTRO_HOME`). */
  constructor(home: string) {
    this.root = path.join(home, "models");
  }

  /** The folder a model's files go in: its name with every character outside `[A-Za-z0-9._-]` turned into `--`. */
  folderFor(name: string): string {
    return path.join(this.root, name.replace(/[^A-Za-z0-9._-]+/g, "--"));
  }

  /** Every model pulled to the end, sorted by name. */
  async list(): Promise<StoredModel[]> {
    const folders = await readdir(this.root).catch(() => [] as string[]);
    const models: StoredModel[] = [];
    for (const folder of folders) {
      const manifest = await readFile(path.join(this.root, folder, "model.json"), "utf8").catch(() => undefined);
      if (manifest === undefined) continue;
      try {
        models.push(JSON.parse(manifest) as StoredModel);
      } catch {
        // A damaged manifest: the model is not listed until it is pulled again.
      }
    }
    return models.sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The stored model named `name`, or `undefined`. */
  async get(name: string): Promise<StoredModel | undefined> {
    return (await this.list()).find((model) => model.name === name);
  }

  /** Records a finished pull (writes the manifest). */
  async save(model: Omit<StoredModel, "path" | "sizeBytes">): Promise<StoredModel> {
    const folder = this.folderFor(model.name);
    await mkdir(folder, { recursive: true });
    const stored: StoredModel = {
      ...model,
      path: path.join(folder, model.files[0]!.name),
      sizeBytes: model.files.reduce((total, file) => total + file.sizeBytes, 0),
    };
    await writeFile(path.join(folder, "model.json"), JSON.stringify(stored, null, 2) + "\n");
    return stored;
  }

  /**
   * Deletes a stored model and its files.
   *
   * @throws {MoestroError} `model_not_found` (404) when no stored model has that name.
   */
  async remove(name: string): Promise<StoredModel> {
    const model = await this.get(name);
    if (model === undefined)
      throw new MoestroError("model_not_found", `No model named '${name}' in the store (${this.root}).`, { param: "model" });
    await rm(this.folderFor(name), { recursive: true, force: true });
    return model;
  }

  /**
   * Deletes a model's folder when it is empty (after a failed pull); a folder with anything in it (a partial download
   * to resume, an earlier pull's files) stays.
   */
  async removeFolderIfEmpty(name: string): Promise<void> {
    await rmdir(this.folderFor(name)).catch(() => undefined);
  }

  /** Whether a file of a model is already complete with the given SHA-256 (so a pull can skip it). */
  async hasFile(name: string, fileName: string, sizeBytes: number): Promise<boolean> {
    const info = await stat(path.join(this.folderFor(name), fileName)).catch(() => undefined);
    return info !== undefined && info.size === sizeBytes;
  }
}
