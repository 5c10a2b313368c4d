import { type ReactNode, useCallback, useEffect, useState } from "react";
import { useConsoleApi } from "../api.js";
import { useAsync } from "../hooks.js";
import { Notice, PageHeader } from "../ui.js";
import { Composer, ToolResultsForm } from "./playground/composer.js";
import { initialSettings, type Settings } from "./playground/request-body.js";
import { RequestPreview } from "./playground/request-preview.js";
import { SettingsPanel } from "./playground/settings-panel.js";
import { Transcript } from "./playground/transcript.js";
import { useChatSession } from "./playground/use-chat-session.js";

/** Chat with a served model: streaming, thinking, tools, JSON output, sampling, and the request as code. */
export function PlaygroundPage(): ReactNode {
  const api = useConsoleApi();
  const models = useAsync(useCallback(() => api.console.listModels(), [api]));
  const [model, setModel] = useState("");
  const [settings, setSettings] = useState<Settings>(initialSettings);
  const [draft, setDraft] = useState("");
  // `undefined` when the server does not say (an older server): the thinking controls then stay.
  const canThink = models.data?.find((entry) => entry.id === model)?.facts?.can_think;
  // Thinking options are hidden for a model that cannot think, and not sent either; they come back with a model that can.
  const requestSettings = canThink === false && settings.thinking !== "default" ? { ...settings, thinking: "default" as const } : settings;
  const session = useChatSession({ model, settings: requestSettings, apiKey: api.adminKey });

  useEffect(() => {
    if (model !== "" || models.data === undefined || models.data.length === 0) return;
    setModel((models.data.find((entry) => entry.loaded) ?? models.data[0]!).id);
  }, [models.data, model]);

  const set = <K extends keyof Settings>(key: K, value: Settings[K]): void => setSettings((previous) => ({ ...previous, [key]: value }));
  const sendMessage = (text: string): void => {
    if (session.send([{ role: "user", content: text }])) setDraft("");
  };

  return (
    <div className="page playground">
      <PageHeader
        title="Playground"
        subtitle="Chat with a served model. Answers stream as they are generated; a thought is shown apart, folded, with its token count."
        actions={
          <button type="button" onClick={session.reset} disabled={session.isStreaming || session.turns.length === 0}>
            New chat
          </button>
        }
      />
      <div className="playground-grid">
        <div className="chat-column">
          <Transcript turns={session.turns} />
          {session.formError !== undefined && <Notice kind="error">{session.formError}</Notice>}
          {session.pendingToolCalls.length > 0 ? (
            <ToolResultsForm
              calls={session.pendingToolCalls}
              onSend={(results) =>
                session.send(results.map(({ call, content }) => ({ role: "tool", toolCallId: call.id, name: call.name, content })))
              }
              onSkip={session.skipToolCalls}
            />
          ) : (
            <Composer
              draft={draft}
              onDraftChange={setDraft}
              isStreaming={session.isStreaming}
              hasModel={model !== ""}
              onSend={sendMessage}
              onStop={session.stop}
            />
          )}
          <RequestPreview
            draft={draft}
            turns={session.turns}
            model={model}
            settings={requestSettings}
            lastBody={session.lastBody}
            needsKey={api.info.key_checks}
          />
        </div>
        <SettingsPanel models={models} model={model} onModelChange={setModel} canThink={canThink} settings={settings} onChange={set} />
      </div>
    </div>
  );
}
