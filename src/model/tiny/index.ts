export {
  TINY_GENERATOR_VERSION,
  generateTinyModel,
  tinyModelConfig,
  tinyModelMetadata,
  tinyTypeSummary,
  writeTinyModel,
} from './tiny-models.js';
export type { TinyArch, TinyModel, TinyModelConfig, TinyModelOptions, TinyTensorInfo, TinyWeightRole } from './tiny-models.js';
export { TINY_PRESETS, TINY_PRESET_NAMES } from './presets.js';
export type { TinyPresetName } from './presets.js';
