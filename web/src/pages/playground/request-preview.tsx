import { type ReactNode, useMemo, useState } from "react";
import { toCurl, toOpenAiJavaScript, toOpenAiPython } from "../../request-code.js";
import { type Turn, type TurnContent, toWireMessages } from "./conversation.js";
import { buildBody, type Settings } from "./request-body.js";

/** The code tabs, in order. */
const codeTabs = [
  ["curl", "curl"],
  ["javascript", "openai (JavaScript)"],
  ["python", "openai (Python)"],
] as const;

type CodeTab = (typeof codeTabs)[number][0];

/**
 * The request the composer would send now, as curl, `openai` JavaScript and `openai` Python code; with an empty
 * composer, the last request sent (or an example). A field that does not parse shows its message instead.
 */
export function RequestPreview(props: {
  draft: string;
  turns: readonly Turn[];
  model: string;
  settings: Settings;
  lastBody: Record<string, unknown> | undefined;
  /** Whether the server checks keys: the code then reads the key from `MOESTRO_API_KEY`. */
  needsKey: boolean;
}): ReactNode {
  const { draft, turns, model, settings, lastBody } = props;
  const [codeTab, setCodeTab] = useState<CodeTab>("curl");
  const preview = useMemo((): { body?: Record<string, unknown>; error?: string; what: string } => {
    if (draft.trim() === "" && lastBody !== undefined) return { body: lastBody, what: "Last request" };
    const nextTurns: TurnContent[] = [...turns, { role: "user", content: draft.trim() === "" ? "Tell me a story" : draft }];
    const what = draft.trim() === "" ? "Example request" : "Next request";
    try {
      return { body: buildBody(model || "MODEL", settings, toWireMessages(settings.system, nextTurns)), what };
    } catch (error) {
      return { error: (error as Error).message, what };
    }
  }, [draft, turns, model, settings, lastBody]);

  const origin = `${window.location.origin}/v1`;
  const code =
    preview.body === undefined
      ? `// ${preview.error}`
      : { curl: toCurl, javascript: toOpenAiJavaScript, python: toOpenAiPython }[codeTab]({
          baseUrl: origin,
          body: preview.body,
          needsKey: props.needsKey,
        });
  return (
    <section className="code-panel" data-testid="request-code">
      <div className="tabs" role="tablist">
        <span className="muted small code-what">{preview.what} as</span>
        {codeTabs.map(([tab, label]) => (
          <button
            key={tab}
            type="button"
            role="tab"
            aria-selected={codeTab === tab}
            className={codeTab === tab ? "tab active" : "tab"}
            onClick={() => setCodeTab(tab)}
          >
            {label}
          </button>
        ))}
        <span className="grow" />
        <button type="button" className="small" onClick={() => void navigator.clipboard?.writeText(code)}>
          Copy
        </button>
      </div>
      <pre className="code" data-testid={`request-code-${codeTab}`}>
        {code}
      </pre>
    </section>
  );
}
