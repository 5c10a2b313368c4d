export { calibrate, createPlan, type Calibration, type Plan, type PlanOptions } from "./plan.js";
export { estimateCost, findNearestCloudPrice, formatMicroUsd, type CloudPriceMatch, type CostEstimate, type CostOptions } from "./cost.js";
export { findHardware, findHardwareByDeviceName, hardwareCatalog, type HardwareCatalogEntry } from "./hardware-catalog.js";
export {
  applyHardwareOverrides,
  decodeOverheadSeconds,
  defaultDecodeOverhead,
  defaultEfficiencies,
  defaultGpuClassId,
  setupFromCatalog,
  type DecodeOverhead,
  type DeviceSpec,
  type HardwareOverrides,
  type HardwareSetup,
} from "./hardware.js";
export { estimateMemory, kvCacheBytesPerToken, type MemoryEstimate, type MemoryEstimateOptions } from "./memory-estimate.js";
export { measureThroughput, type MeasureOptions, type ThroughputMeasurement } from "./measure.js";
export {
  classifyTensor,
  describeGguf,
  detectChatSupport,
  type ChatSupport,
  type ModelFacts,
  type QuantizationShare,
} from "./model-facts.js";
export {
  createStoreModelResolver,
  defaultHubEndpoint,
  parseHubRef,
  pickGgufFileForQuant,
  resolveModelSource,
  type HubRef,
  type ModelSource,
  type ResolveModelSourceOptions,
  type StoredModelResolver,
} from "./model-source.js";
export { llamaServerArgs, planPlacement, type Placement, type PlacementKind } from "./placement.js";
export { readGgufHeader, readModelFacts, type ReadModelFactsOptions } from "./read-model-facts.js";
export { renderComparison, renderModelFacts, renderPlan } from "./render-text.js";
export { formatBandwidth, formatBytes, formatCount, parseBandwidthBytesPerSecond, parseSizeBytes } from "../util/size-units.js";
export {
  expertCoverageFraction,
  formatDecodeStep,
  predictSpeed,
  type DecodeDeviceTerm,
  type DecodeStep,
  type SpeedPrediction,
} from "./speed.js";
export { probeGpu, probeHost, probeLlamaGpu, setupFromProbes, type GpuProbe, type HostProbe } from "./this-machine.js";
