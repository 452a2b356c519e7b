// canaryd on Azure Container Apps with a system-assigned managed identity and a least-privilege
// custom role on the Azure ML workspace. The Container Apps managed-identity endpoint is the
// IDENTITY_ENDPOINT / IDENTITY_HEADER flow canaryd's default credential uses.
param location string = resourceGroup().location
param environmentId string
param image string
param mlWorkspaceName string
param logAnalyticsWorkspaceName string

resource mlWorkspace 'Microsoft.MachineLearningServices/workspaces@2024-10-01' existing = {
  name: mlWorkspaceName
}

resource logWorkspace 'Microsoft.OperationalInsights/workspaces@2023-09-01' existing = {
  name: logAnalyticsWorkspaceName
}

resource app 'Microsoft.App/containerApps@2024-03-01' = {
  name: 'canaryd'
  location: location
  identity: { type: 'SystemAssigned' }
  properties: {
    environmentId: environmentId
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: { external: false, targetPort: 9187 }
    }
    template: {
      containers: [
        {
          name: 'canaryd'
          image: image
          args: [ 'run', '--config', '/etc/canaryd/canaryd.toml' ]
          resources: { cpu: json('0.25'), memory: '0.5Gi' }
        }
      ]
      // One replica: the SQLite journal is the single writer of rollout decisions.
      scale: { minReplicas: 1, maxReplicas: 1 }
    }
  }
}

// Read endpoints and deployments, write endpoints (traffic): nothing else.
resource trafficRole 'Microsoft.Authorization/roleDefinitions@2022-04-01' = {
  name: guid(resourceGroup().id, 'canaryd-traffic-operator')
  properties: {
    roleName: 'canaryd traffic operator (${resourceGroup().name})'
    description: 'Read Azure ML online endpoints and deployments; change endpoint traffic.'
    assignableScopes: [ resourceGroup().id ]
    permissions: [
      {
        actions: [
          'Microsoft.MachineLearningServices/workspaces/onlineEndpoints/read'
          'Microsoft.MachineLearningServices/workspaces/onlineEndpoints/write'
          'Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments/read'
        ]
        notActions: []
      }
    ]
  }
}

resource trafficAssignment 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(mlWorkspace.id, app.id, trafficRole.id)
  scope: mlWorkspace
  properties: {
    roleDefinitionId: trafficRole.id
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// Log Analytics Reader on the workspace the endpoint's diagnostic settings write to.
resource logReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(logWorkspace.id, app.id, 'log-analytics-reader')
  scope: logWorkspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '73c42c96-874c-492b-b04d-ab87d138a893')
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

// Monitoring Reader on the ML workspace, for the Azure Monitor metrics source.
resource monitoringReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(mlWorkspace.id, app.id, 'monitoring-reader')
  scope: mlWorkspace
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '43d0d8ad-25c7-4714-9337-8ba259a9fe05')
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

output principalId string = app.identity.principalId
