export * from './fake-app-server'
