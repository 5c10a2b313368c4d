import type { ReactNode } from "react";
import type { WireModelEntry } from "../../../../src/wire/console.js";
import type { AsyncState } from "../../hooks.js";
import { ErrorNotice } from "../../ui.js";
import type { Settings } from "./request-body.js";

/** The Playground's request options: model, system prompt, thinking, sampling, tools and output format. */
export function SettingsPanel(props: {
  models: AsyncState<WireModelEntry[]>;
  model: string;
  onModelChange: (model: string) => void;
  /** Whether the model can think: `false` hides the thinking options; `undefined` (the server does not say) shows them. */
  canThink: boolean | undefined;
  settings: Settings;
  /** Changes one option. */
  onChange: <K extends keyof Settings>(key: K, value: Settings[K]) => void;
}): ReactNode {
  const { models, model, settings } = props;
  const set = props.onChange;
  return (
    <aside className="settings" aria-label="Request options">
      {models.error !== undefined ? (
        <ErrorNotice error={models.error} what="The model list" />
      ) : (
        <label>
          Model
          <select value={model} onChange={(event) => props.onModelChange(event.target.value)} data-testid="model-select">
            {models.data === undefined && <option value="">Loading…</option>}
            {models.data?.length === 0 && <option value="">No models</option>}
            {models.data?.map((entry) => (
              <option key={entry.id} value={entry.id}>
                {entry.id}
                {entry.loaded ? " (loaded)" : ""}
              </option>
            ))}
          </select>
        </label>
      )}
      <label>
        System prompt
        <textarea
          rows={2}
          value={settings.system}
          onChange={(event) => set("system", event.target.value)}
          placeholder="You are a helpful assistant."
        />
      </label>
      {props.canThink === false ? (
        <p className="muted small" data-testid="thinking-unavailable">
          {model} cannot think (its vocabulary has no <code>&lt;think&gt;</code> token), so there are no thinking options.
        </p>
      ) : (
        <fieldset data-testid="thinking-options">
          <legend>Thinking</legend>
          <div className="segmented" role="radiogroup" aria-label="Thinking">
            {(["default", "on", "off"] as const).map((mode) => (
              <label key={mode} className={settings.thinking === mode ? "active" : undefined}>
                <input
                  type="radio"
                  name="thinking"
                  value={mode}
                  checked={settings.thinking === mode}
                  onChange={() => set("thinking", mode)}
                />
                {mode === "default" ? "Default" : mode === "on" ? "On" : "Off"}
              </label>
            ))}
          </div>
          <label>
            Thinking budget (tokens)
            <input
              inputMode="numeric"
              value={settings.thinkingBudget}
              onChange={(event) => set("thinkingBudget", event.target.value)}
              placeholder="no limit"
              disabled={settings.thinking !== "on"}
            />
          </label>
        </fieldset>
      )}
      <fieldset>
        <legend>Sampling</legend>
        <div className="field-grid">
          <label>
            Max tokens
            <input
              inputMode="numeric"
              value={settings.maxTokens}
              onChange={(event) => set("maxTokens", event.target.value)}
              placeholder="rest of context"
            />
          </label>
          <label>
            Temperature
            <input
              inputMode="decimal"
              value={settings.temperature}
              onChange={(event) => set("temperature", event.target.value)}
              placeholder="1"
            />
          </label>
          <label>
            Top p
            <input inputMode="decimal" value={settings.topP} onChange={(event) => set("topP", event.target.value)} placeholder="1" />
          </label>
          <label>
            Top k
            <input inputMode="numeric" value={settings.topK} onChange={(event) => set("topK", event.target.value)} placeholder="40" />
          </label>
          <label>
            Min p
            <input inputMode="decimal" value={settings.minP} onChange={(event) => set("minP", event.target.value)} placeholder="off" />
          </label>
          <label>
            Seed
            <input inputMode="numeric" value={settings.seed} onChange={(event) => set("seed", event.target.value)} placeholder="random" />
          </label>
        </div>
        <label>
          Stop sequences (one a line)
          <textarea rows={1} value={settings.stop} onChange={(event) => set("stop", event.target.value)} />
        </label>
      </fieldset>
      <fieldset>
        <legend>
          <label className="inline">
            <input
              type="checkbox"
              checked={settings.isToolsOn}
              onChange={(event) => set("isToolsOn", event.target.checked)}
              data-testid="tools-toggle"
            />{" "}
            Tools
          </label>
        </legend>
        {settings.isToolsOn && (
          <>
            <label>
              Tool definitions (JSON)
              <textarea
                className="mono"
                rows={8}
                value={settings.tools}
                onChange={(event) => set("tools", event.target.value)}
                spellCheck={false}
              />
            </label>
            <label>
              Tool choice
              <select value={settings.toolChoice} onChange={(event) => set("toolChoice", event.target.value as Settings["toolChoice"])}>
                <option value="auto">auto</option>
                <option value="required">required</option>
                <option value="none">none</option>
              </select>
            </label>
          </>
        )}
      </fieldset>
      <fieldset>
        <legend>Output</legend>
        <select
          value={settings.responseFormat}
          onChange={(event) => set("responseFormat", event.target.value as Settings["responseFormat"])}
          aria-label="Response format"
          data-testid="response-format"
        >
          <option value="text">Text</option>
          <option value="json_object">JSON object</option>
          <option value="json_schema">JSON schema</option>
        </select>
        {settings.responseFormat === "json_schema" && (
          <label>
            JSON schema
            <textarea
              className="mono"
              rows={7}
              value={settings.jsonSchema}
              onChange={(event) => set("jsonSchema", event.target.value)}
              spellCheck={false}
            />
          </label>
        )}
      </fieldset>
    </aside>
  );
}
