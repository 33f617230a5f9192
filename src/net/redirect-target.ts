/**
 * Which redirects drover follows, wherever it downloads (GitLab's artifacts API, plugin sources):
 * one rule, so that a hostile server meets the same refusal everywhere.
 */

/**
 * Where a redirect from `from` leads, or why it is not followed: only to http or https (Bun's
 * fetch would read a `file://` URL from the disk: another project's cache), and never from https
 * down to http, where the archive and a job token would cross the network in the clear.
 */
export function redirectTarget(location: string | null, from: URL): URL | string {
  if (!location) return "a redirect without a Location";
  let target: URL;
  try {
    target = new URL(location, from);
  } catch {
    return `a redirect to ${JSON.stringify(location.slice(0, 200))}, which is not a URL`;
  }
  if (target.protocol !== "http:" && target.protocol !== "https:")
    return `a redirect to a ${target.protocol} URL, which drover does not follow`;
  if (from.protocol === "https:" && target.protocol === "http:")
    return `a redirect from https down to http (${target.origin}), which drover does not follow`;
  return target;
}
