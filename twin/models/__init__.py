"""twin/models"""
