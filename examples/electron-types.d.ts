// The few Electron main-process types that examples/electron-main.ts uses, so that it
// type-checks without Electron installed. In a real app, delete this file: `electron` ships
// its own (complete) types.

declare module 'electron' {
  interface WebContents {
    send(channel: string, ...args: unknown[]): void
    isDestroyed(): boolean
  }

  interface IpcMainInvokeEvent {
    /** The renderer that invoked the channel. */
    sender: WebContents
  }

  interface IpcMain {
    handle(channel: string, listener: (event: IpcMainInvokeEvent, ...args: any[]) => unknown): void
  }

  interface App {
    whenReady(): Promise<void>
    getVersion(): string
    quit(): void
    on(event: 'window-all-closed', listener: () => void): this
    on(event: 'will-quit', listener: (event: { preventDefault(): void }) => void): this
  }

  interface BrowserWindowOptions {
    width?: number
    height?: number
    webPreferences?: { preload?: string; contextIsolation?: boolean }
  }

  export class BrowserWindow {
    constructor(options?: BrowserWindowOptions)
    readonly webContents: WebContents
    loadFile(filePath: string): Promise<void>
  }

  export const app: App
  export const ipcMain: IpcMain
  export type { WebContents, IpcMainInvokeEvent }
}
