// The station credentials a pairing gave this headset, kept in localStorage until revoked.
const KEY = "stridevr.xr.credentials";

/** {station, headset_token, device_token?, pairing_id?} or null. */
export function loadCredentials(storage = window.localStorage) {
  try {
    const c = JSON.parse(storage.getItem(KEY) || "null");
    return c && typeof c.station === "string" && typeof c.headset_token === "string" ? c : null;
  } catch {
    return null;
  }
}

export function saveCredentials(c, storage = window.localStorage) {
  storage.setItem(KEY, JSON.stringify({
    station: c.station, headset_token: c.headset_token, device_token: c.device_token || null,
    pairing_id: c.pairing_id ?? null, paired_at: new Date().toISOString(),
  }));
}

export function forgetCredentials(storage = window.localStorage) {
  storage.removeItem(KEY);
}
