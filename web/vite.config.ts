import { defineConfig } from "vite";

/**
 * The console's build: static files in web/dist, served by `moestro serve` at `/`. Everything is bundled (no CDN, no
 * fonts or scripts from elsewhere). `npm run dev -w web` serves it with hot reload and forwards the API to a server on
 * 127.0.0.1:8080 (MOESTRO_URL to change it).
 */
export default defineConfig({
  base: "/",
  oxc: { jsx: { runtime: "automatic" } },
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 1024 },
  server: {
    // The console imports the typed clients from ../src/client.
    fs: { allow: [".."] },
    proxy: Object.fromEntries(["/v1", "/health", "/metrics"].map((path) => [path, process.env.MOESTRO_URL ?? "http://127.0.0.1:8080"])),
  },
});
