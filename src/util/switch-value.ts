/**
 * Reads a switch written as text, the same way for CLI flags (`--flash-attention off`) and `MOESTRO_*` environment
 * variables (`MOESTRO_ENGINE__FLASH_ATTENTION=off`): `on`, `true`, `yes`, `1` are true; `off`, `false`, `no`, `0` are
 * false, in any case and with surrounding spaces ignored.
 *
 * @returns the switch, or `undefined` for any other text (the caller says why it is refused).
 */
export function parseSwitch(value: string): boolean | undefined {
  const normalized = value.trim().toLowerCase();
  if (normalized === "on" || normalized === "true" || normalized === "yes" || normalized === "1") return true;
  if (normalized === "off" || normalized === "false" || normalized === "no" || normalized === "0") return false;
  return undefined;
}
