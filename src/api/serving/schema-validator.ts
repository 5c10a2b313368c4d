import { Ajv, type ValidateFunction } from "ajv";
import { MoestroError } from "../../errors/index.js";

/**
 * Validates model output against JSON schemas with Ajv (JSON Schema draft-07 by default, formats unchecked), compiling
 * each distinct schema once. Ajv counts string lengths in code points, as JSON Schema requires, which node-llama-cpp's
 * own `grammar.parse` does not (it counts UTF-16 units; ../shared/ENGINE-NOTES.md).
 */
export class SchemaValidator {
  readonly #ajv = new Ajv({ strict: false, allErrors: false, validateFormats: false });
  readonly #compiled = new Map<string, ValidateFunction>();

  /**
   * Checks that `text` parses as JSON and matches `schema`.
   *
   * @throws {MoestroError} `invalid_model_output` (500) naming the first violation, when it does not.
   */
  assertJson(text: string, schema: Record<string, unknown>, what: string): void {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new MoestroError("invalid_model_output", `The model's ${what} is not valid JSON.`);
    }
    const validate = this.#compile(schema);
    if (!validate(value)) {
      const first = validate.errors?.[0];
      throw new MoestroError(
        "invalid_model_output",
        `The model's ${what} does not match its JSON schema: ${first?.instancePath || "/"} ${first?.message ?? "is invalid"}.`,
      );
    }
  }

  #compile(schema: Record<string, unknown>): ValidateFunction {
    const key = JSON.stringify(schema);
    let validate = this.#compiled.get(key);
    if (validate === undefined) {
      validate = this.#ajv.compile(schema);
      if (this.#compiled.size >= 256) this.#compiled.delete(this.#compiled.keys().next().value!);
      this.#compiled.set(key, validate);
    }
    return validate;
  }
}
