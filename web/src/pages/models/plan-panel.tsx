import { type ReactNode, useCallback } from "react";
import type { WireModelEntry, WireModelPlan } from "../../../../src/wire/console.js";
import { useConsoleApi } from "../../api.js";
import { StackedBar } from "../../charts.js";
import { formatBytes, formatCount, formatRate, formatUsd } from "../../format.js";
import { useAsync } from "../../hooks.js";
import { Badge, ErrorNotice, Notice, Section, Stat } from "../../ui.js";
import { isMoe } from "./model-kind.js";

/** One model's facts from its GGUF header and its plan on the server's machine (`GET /v1/moestro/plan`). */
export function PlanPanel(props: {
  model: string;
  /** The model list's facts of the model, which say whether it is a Mixture of Experts until the plan's own are read. */
  listFacts: WireModelEntry["facts"];
}): ReactNode {
  const api = useConsoleApi();
  const plan = useAsync(useCallback(() => api.console.planModel(props.model), [api, props.model]));
  if (!api.info.features.plan) {
    return (
      <Section title={`Plan: ${props.model}`}>
        <Notice kind="unavailable" title="Planning is not available on this server yet." />
      </Section>
    );
  }
  const isMoeModel = isMoe(plan.data === undefined ? props.listFacts : plan.data.facts);
  return (
    <Section title={`${isMoeModel ? "MoE facts" : "Facts"} and plan: ${props.model}`} testId="plan-panel">
      {plan.isLoading && plan.data === undefined && <div className="muted">Reading the GGUF header…</div>}
      {plan.error !== undefined && <ErrorNotice error={plan.error} what="The plan" />}
      {plan.data !== undefined && <PlanView plan={plan.data} />}
    </Section>
  );
}

function PlanView(props: { plan: WireModelPlan }): ReactNode {
  const { facts, memory, placement } = props.plan;
  const isMoeModel = isMoe(facts);
  return (
    <div className="plan" data-testid="plan-view">
      <div className="stats">
        <Stat
          label="Architecture"
          value={facts.architecture}
          detail={`${facts.layer_count} layers${facts.file_type === null ? "" : ` · ${facts.file_type}`}${isMoeModel ? "" : " · dense"}`}
        />
        <Stat
          label="Parameters"
          value={formatCount(facts.total_parameters)}
          detail={isMoeModel ? "total" : "all used per token"}
          testId="plan-total-parameters"
        />
        {/* A dense model uses every parameter for every token: active parameters and experts are MoE facts only. */}
        {isMoeModel && (
          <Stat label="Active parameters" value={formatCount(facts.active_parameters)} detail="per token" testId="plan-active-parameters" />
        )}
        {isMoeModel && (
          <Stat
            label="Experts"
            value={<span data-testid="plan-experts">{`${facts.expert_used_count} of ${facts.expert_count}`}</span>}
            detail={`used per token${facts.shared_expert_count ? ` · ${facts.shared_expert_count} shared` : ""}`}
          />
        )}
        <Stat
          label="Weights"
          value={formatBytes(facts.weights_bytes)}
          detail={isMoeModel ? `${formatBytes(facts.routed_expert_bytes)} in routed experts` : undefined}
        />
      </div>
      <h3>On this machine</h3>
      <p className="muted small">{props.plan.hardware.name}</p>
      <div className="plan-fit">
        {placement.fits ? <Badge tone="good">fits</Badge> : <Badge tone="bad">does not fit</Badge>}{" "}
        <span data-testid="plan-placement">{placement.description}</span>
        {placement.reason !== null && <div className="muted">{placement.reason}</div>}
      </div>
      <StackedBar
        parts={[
          { name: "weights", value: memory.weights_bytes },
          { name: "KV cache", value: memory.kv_cache_bytes + memory.recurrent_state_bytes },
          { name: "compute buffers", value: memory.compute_buffer_bytes },
          { name: "logits", value: memory.output_buffer_bytes },
        ]}
        format={formatBytes}
        label={`The plan's memory: ${formatBytes(memory.total_bytes)}`}
        hasLegend
        caption={`= ${formatBytes(memory.total_bytes)} for ${memory.sequences} × ${memory.context_tokens} tokens of context`}
      />
      <div className="stats">
        <Stat
          label="Decode"
          value={props.plan.decode_tokens_per_second === null ? "-" : `${formatRate(props.plan.decode_tokens_per_second)} tok/s`}
          detail="one sequence, predicted"
        />
        <Stat
          label="Prefill"
          value={props.plan.prefill_tokens_per_second === null ? "-" : `${formatRate(props.plan.prefill_tokens_per_second)} tok/s`}
          detail="predicted"
        />
        <Stat label="Read per token" value={formatBytes(facts.active_bytes_per_token)} detail="bounds decode speed" />
        {props.plan.cloud !== null && (
          <Stat
            label="Nearest cloud price"
            value={`${formatUsd(props.plan.cloud.output_micro_usd_per_million_tokens / 1e6)} / 1M out`}
            detail={props.plan.cloud.model}
          />
        )}
      </div>
      {placement.gpu !== null && (
        <p className="small">
          GPU {placement.gpu.name}: {formatBytes(placement.gpu.total_bytes)} of {formatBytes(placement.gpu.budget_bytes)} · host:{" "}
          {formatBytes(placement.host.total_bytes)} of {formatBytes(placement.host.budget_bytes)}
        </p>
      )}
      {props.plan.llama_server_args.length > 0 && (
        <p className="small">
          llama-server flags: <code>{props.plan.llama_server_args.join(" ")}</code>
        </p>
      )}
      <details className="small">
        <summary>Assumptions and sources</summary>
        <ul>
          {props.plan.assumptions.map((line) => (
            <li key={line}>{line}</li>
          ))}
        </ul>
      </details>
    </div>
  );
}
